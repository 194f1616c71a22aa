"""BASE Algorithm 1 in one process: the algorithm as plain functions over tensors, and the engine that runs it.

Modules:
    task          one task: run_task (seeds, before/after evaluation, metrics) -> a flat delta
    strategy      how a task turns W into a delta: first order (Reptile-style) or second order (MAML-style)
    inner         the inner optimizer step and loop, evaluation at the posterior mean
    second_order  differentiating through the unrolled inner steps (torch.func)
    rounds        one round over any executor (in process or Ray): non-finite policy, ordered streaming mean
    outer         the outer step W <- W + lambda * mean(delta), optional outer Adam
    schedules     lambda (outer step) and tau (Gumbel temperature) schedules
    trainer       MetaTrainer: the round loop; callbacks: metrics file, checkpoints, MLflow, progress
    checkpoints   what a checkpoint holds, space signatures, resume points
    prior         the seeded supernet, the one posterior loader, fitting a posterior to a new target
    adapt         quick adaptation of the meta-network to a whole dataset
    holdout       held-out evaluation of a W on unseen classes
    heads         initialisation rules for heads/classifiers the checkpoint lacks
    diagnostics   does meta-training learn? coherence, displacement, architecture, sigma

Nothing here imports Ray; the distributed layer runs these functions inside its workers.
"""
