"""MAML's meta-batch split over processes: the same outer step, bit for bit, in less wall time.

:func:`base_dist.train.maml.meta_step` computes each episode's gradient and adds them up in episode
order. :class:`EpisodeWorkers` keeps ``workers - 1`` spawned processes, each holding a copy of the
network: per outer step it sends them the weights and a contiguous share of the episodes, computes
the first share itself meanwhile, and adds the returned gradients up in the same order
(:func:`~base_dist.train.maml.apply_episode_steps`). The sum, the Adam step and so the trained
weights are the ones a single process gets; only the wall time changes (``fewshot.train_workers``).
The val scoring during training (``fewshot.val_every``, and so ``fewshot select``'s scores) and
``fewshot eval`` (``fewshot.eval_workers``) are split the same way: each episode's accuracy does not
depend on where it is computed.

A worker that dies stops the run with one line; the checkpoints are there to ``--resume`` from.

Example:
    >>> from base_dist.config import load_config
    >>> cfg = load_config(None, ["fewshot.image_size=16", "device=cpu"])
    >>> with EpisodeWorkers(cfg, in_channels=1, processes=2) as workers:  # doctest: +SKIP
    ...     row = workers.meta_step(net, optimizer, episodes)
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import torch
from torch import nn

from base_dist.config import ExperimentConfig, config_from_dict, config_to_dict
from base_dist.data import Episode
from base_dist.errors import UserError
from base_dist.train.fewshot_eval import FewshotEval, episode_accuracies, eval_inner_steps, summarise_split
from base_dist.train.fewshot_state import build_fewshot_network
from base_dist.train.maml import EpisodeStep, apply_episode_steps, episode_step
from base_dist.utils import contiguous_chunks, resolve_device


def _step_kwargs(cfg: ExperimentConfig, batch: int) -> dict[str, Any]:
    fs = cfg.fewshot
    return {"batch": batch, "steps": fs.inner_steps, "lr": fs.inner_lr, "first_order": fs.first_order,
            "grad_clip": fs.inner_grad_clip}


def _episode_steps(net: nn.Module, episodes: Sequence[Episode], kwargs: dict[str, Any]) -> list[EpisodeStep]:
    params = dict(net.named_parameters())
    return [episode_step(net, params, ep, **kwargs) for ep in episodes]


def _work(cfg: ExperimentConfig, net: nn.Module, device: torch.device, job: tuple[Any, ...]) -> Any:
    """One job of a worker: ``("steps", episodes, kwargs)`` or ``("accuracies", split, indices, steps)``."""
    if job[0] == "steps":
        steps = _episode_steps(net, [ep.to(device) for ep in job[1]], job[2])
        for s in steps:  # the parent may be on another device; pickled CPU tensors keep every bit
            s.grads = {k: None if g is None else g.cpu() for k, g in s.grads.items()}
        return steps
    _, split, indices, steps = job
    return episode_accuracies(cfg, net, split, indices, steps=steps, device=device)


def _serve(conn: Connection, cfg_dict: dict[str, Any], in_channels: int) -> None:
    """A worker's loop: ``(weights, job)`` in, the job's result out (see :func:`_work`); None stops it."""
    cfg = config_from_dict(cfg_dict, origin="fewshot train worker config")
    torch.set_num_threads(cfg.dist.torch_threads)
    device = resolve_device(cfg.device)
    net = build_fewshot_network(cfg, in_channels).to(device)
    while (message := conn.recv()) is not None:
        weights, job = message
        try:
            net.load_state_dict(weights)
            conn.send(("ok", _work(cfg, net, device, job)))
        except Exception:  # noqa: BLE001 - the parent reports it; this loop must keep answering
            conn.send(("error", traceback.format_exc()))


class EpisodeWorkers:
    """``processes - 1`` spawned processes that compute episode steps (and val accuracies) beside this one.

    A context manager: the processes start on entry and stop on exit. With one process it is the
    plain :func:`~base_dist.train.maml.meta_step`, in this process.
    """

    def __init__(self, cfg: ExperimentConfig, in_channels: int, processes: int,
                 setting: str = "fewshot.train_workers") -> None:
        self.cfg, self.in_channels, self.processes, self.setting = cfg, in_channels, processes, setting
        self.conns: list[Connection] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []

    def __enter__(self) -> EpisodeWorkers:
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch or thread state carried over
        cfg_dict = config_to_dict(self.cfg)
        for _ in range(self.processes - 1):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child, cfg_dict, self.in_channels), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        return self

    def __exit__(self, *exc: object) -> None:
        for conn in self.conns:
            try:
                conn.send(None)
            except OSError:
                pass  # that worker is gone already
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
        self.conns, self.procs = [], []

    def meta_step(self, net: nn.Module, optimizer: torch.optim.Optimizer, episodes: Sequence[Episode]) -> dict[str, float]:
        """:func:`~base_dist.train.maml.meta_step` of ``episodes`` with the config's inner-loop settings."""
        kwargs = _step_kwargs(self.cfg, len(episodes))

        def job(share: range) -> tuple[Any, ...]:
            return ("steps", [episodes[i].to("cpu") for i in share], kwargs)

        results = self._run(net, len(episodes), job, lambda share: _episode_steps(net, [episodes[i] for i in share], kwargs))
        return apply_episode_steps(optimizer, dict(net.named_parameters()), results)

    def evaluate(self, net: nn.Module, split: str, episodes: int) -> FewshotEval:
        """:func:`~base_dist.train.fewshot_eval.evaluate_split` of ``net`` (the same accuracies), split the same way."""
        steps, device = eval_inner_steps(self.cfg), next(net.parameters()).device
        accs = self._run(net, episodes, lambda share: ("accuracies", split, share, steps),
                         lambda share: episode_accuracies(self.cfg, net, split, share, steps=steps, device=device))
        return summarise_split(self.cfg, split, steps, accs)

    def _run(self, net: nn.Module, total: int, job: Callable[[range], tuple[Any, ...]],
             here: Callable[[range], list[Any]]) -> list[Any]:
        """Items ``range(total)`` in contiguous shares: the first ``here``, the others as ``job`` s in the
        workers meanwhile (with ``net``'s weights); the results concatenated in item order."""
        shares = contiguous_chunks(total, len(self.conns) + 1)
        busy = [(conn, share) for conn, share in zip(self.conns, shares[1:], strict=True) if share]
        weights = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        for conn, share in busy:
            self._talk(conn.send, (weights, job(share)))
        results = list(here(shares[0]))
        for conn, _ in busy:
            results += self._receive(conn)
        return results

    def _talk(self, call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args)`` on a worker's pipe; a worker gone (killed, out of memory) is one clear error."""
        try:
            return call(*args)
        except (EOFError, OSError) as err:
            again = ("continue the run with --resume (from its newest checkpoint)" if self.setting.endswith("train_workers")
                     else "run it again")
            raise UserError(f"a {self.setting} process exited mid-step; {again}, with fewer workers if memory "
                            "ran short") from err

    def _receive(self, conn: Connection) -> list[Any]:
        status, payload = self._talk(conn.recv)
        if status != "ok":
            raise RuntimeError(f"a {self.setting} process failed:\n{payload}")
        return payload
