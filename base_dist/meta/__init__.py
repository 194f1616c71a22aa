"""BASE Algorithm 1 in one process: inner loop, outer update, meta_train, adapt, second order.

Modules:
    engine        the "meta -> dist" contract: run_task, outer_update, task seeds and specs
    inner         the T-step inner loop on one task (first order) and evaluation
    outer         the outer update W <- W + lambda * mean(delta), optional outer Adam
    schedules     lambda (outer step) and tau (Gumbel temperature) schedules
    second_order  differentiating through the unrolled inner loop (torch.func)
    rounds        one round over any executor (in process or Ray): non-finite policy, ordered mean
    loop          meta_train: rounds, metrics, checkpoints, exact resume
    adapt         quick adaptation of the meta-network to a whole dataset
    heads         initialisation rules for heads/classifiers the checkpoint lacks

Nothing here imports Ray; the distributed layer calls these functions inside its workers.
"""
