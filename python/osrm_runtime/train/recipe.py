"""The `train` op: LoRA fine-tuning of one task, as one readable loop (no Trainer hiding steps).

    payload -> checks (data, labels, lengths, init adapter) -> model with LoRA + trainable head
    -> for each epoch: length-grouped, dynamically padded batches -> AdamW steps -> evaluate
       -> keep the best epoch -> atomic checkpoint (resume point)
    -> the best epoch saved in PEFT's format + osrm_task.json + metrics.json

Resuming: a rerun with the same payload and `out` continues from the last checkpoint (an epoch's
end, a mid-epoch one written every `training.checkpoint_every`, or the one written on SIGTERM)
and reaches the same result as an uninterrupted run (the batch order of epoch e depends only on
the seed and e; model, optimizer, scheduler, RNG and the epoch's running loss come from the
checkpoint). With `training.devices` N (torchrun) each micro-batch is split over the N processes
(distributed.py), so the result does not depend on N.

Tracking: TensorBoard event files in `<out>/tensorboard/` (loss, lr and samples/s per optimizer
step; the eval metrics per epoch, at the epoch's last step), written by rank 0 and flushed after
every epoch. A resumed run appends to the same folder and purges what the interrupted attempt
logged after its last checkpoint, so no step appears twice.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional

from ..adapters import model_card, normalise_modes, write_adapter
from ..digest import model_reference
from ..context import Context
from ..data.batches import Encoded, batch_order, collate
from ..evaluate import predict_logits
from ..metrics import predictions_from_logits, score
from ..models import family_of, load_classifier, load_config, load_tokenizer, model_warnings
from . import checkpoint, distributed, stopping
from ..contract.payloads import TrainingSetting, TrainPayload
from .config import TrainConfig, fingerprint_of, from_payload
from .inputs import TaskData, dropped_rows, load_task_data, majority_baseline, report_dropped
from .lora import build_lora_model, trainable_parameters


class TrainingDiverged(Exception):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def train(payload: TrainPayload, ctx: Context) -> dict:
    config = from_payload(payload)
    with stopping.graceful_stop() as stop:
        dist = distributed.setup()
        try:
            return Run(config, ctx, dist, stop).execute()
        finally:
            distributed.teardown(dist)


# ---------------------------------------------------------------------------------------------
# pieces the loop (and bench/train) use


def autocast_dtype(training: TrainingSetting, device) -> Optional["object"]:
    """bf16 autocast on a GPU that supports it (precision auto or bf16), fp32 otherwise; bf16 on a
    CPU only when asked for explicitly."""
    import torch

    if training.precision == "fp32":
        return None
    if training.precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def make_optimizer(model, training: TrainingSetting):
    """AdamW; weight decay on matrices only (LoRA factors, head weights), never on biases."""
    import torch

    named = trainable_parameters(model)
    decay = [p for n, p in named if p.ndim >= 2]
    no_decay = [p for n, p in named if p.ndim < 2]
    names = [n for n, p in named if p.ndim >= 2] + [n for n, p in named if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": training.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=training.lr), names


def make_scheduler(optimizer, training: TrainingSetting, total_steps: int):
    """transformers' schedule: linear warmup over ceil(warmup_ratio * total) optimizer steps (as
    its Trainer counts them), then linear decay to 0 at `total_steps`, or constant."""
    from transformers import get_constant_schedule_with_warmup, get_linear_schedule_with_warmup

    warmup = math.ceil(training.warmup_ratio * total_steps)
    if training.scheduler == "constant":
        return get_constant_schedule_with_warmup(optimizer, warmup)
    return get_linear_schedule_with_warmup(optimizer, warmup, total_steps)


def loss_of(logits, labels, regression: bool, reduction: str = "mean"):
    import torch.nn.functional as F

    logits = logits.float()  # the loss in fp32 even under bf16 autocast
    if regression:
        return F.mse_loss(logits.view(-1), labels.float().view(-1), reduction=reduction)
    return F.cross_entropy(logits, labels, reduction=reduction)


@dataclass
class EpochStats:
    loss: float      # mean loss of the epoch's optimizer steps (those before a resume included)
    samples: int     # examples of the global batches this call ran
    seconds: float
    steps: int       # optimizer steps this call ran


@dataclass
class Position:
    """Where an epoch stands after an optimizer step: what a mid-epoch checkpoint records."""
    step: int        # optimizer steps of the whole run so far
    groups: int      # optimizer steps of this epoch so far
    total: int       # optimizer steps of this epoch
    loss_sum: float  # sum of the loss of this epoch's steps so far (this rank's share under DDP)
    samples: int

    @property
    def last(self) -> bool:
        return self.groups == self.total


def train_steps(model, optimizer, encoded: Encoded, batches: list[list[int]], *, pad_id: int, padding_side: str,
                device, amp_dtype, grad_accum: int, scheduler, first_step: int,
                epoch: int, on_step: Optional[Callable[[int, float, float, float], None]] = None,
                no_sync: Optional[Callable] = None, pad_to: Optional[int] = None,
                part: Optional[Callable[[list[int]], list[int]]] = None, world: int = 1,
                start_group: int = 0, carry: Optional[Position] = None,
                after_step: Optional[Callable[[Position], None]] = None) -> EpochStats:
    """One pass over `batches`, the epoch's global micro-batches; under DDP `part` picks this
    rank's share of each and `world` is the number of ranks. Every `grad_accum` micro-batches
    make one optimizer step; the loss of each group is averaged over the micro-batches it really
    has. A resumed epoch skips its first `start_group` steps and continues the running sums of
    `carry`; `after_step` sees the position after each step (it may checkpoint or stop the run).
    Raises TrainingDiverged on a non-finite loss before it reaches the weights."""
    import torch

    model.train()
    started = time.perf_counter()
    step = first_step
    total_loss, seen = (carry.loss_sum, carry.groups) if carry is not None else (0.0, 0)
    samples = 0
    total = math.ceil(len(batches) / grad_accum)
    optimizer.zero_grad(set_to_none=True)
    for group_start in range(start_group * grad_accum, len(batches), grad_accum):
        group = batches[group_start:group_start + grad_accum]
        group_loss = 0.0
        for position, indices in enumerate(group):
            local = part(indices) if part is not None else indices
            # A rank whose share of a short last batch is empty still runs a forward and backward
            # (DDP all-reduces every parameter's gradient), on one example with weight 0.
            batch = collate(encoded, local or indices[:1], pad_id, pad_to, padding_side)
            autocast = (torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None
                        else contextlib.nullcontext())
            with autocast:
                logits = model(input_ids=batch["input_ids"].to(device, non_blocking=True),
                               attention_mask=batch["attention_mask"].to(device, non_blocking=True)).logits
            labels = batch["labels"].to(device, non_blocking=True)
            if world > 1:
                # DDP averages the ranks' gradients: each rank's summed loss x world / n makes that
                # average the mean over all n examples of the global batch, as in one process.
                weight = world / len(indices) if local else 0.0
                loss = loss_of(logits, labels, encoded.regression, reduction="sum") * weight
            else:
                loss = loss_of(logits, labels, encoded.regression)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"the training loss became {value} in epoch {epoch}, optimizer step {step + 1} "
                    f"(micro-batch {group_start + position + 1} of the epoch); the last good checkpoint is "
                    f"kept. Lower training.lr, or use training.precision fp32")
            # DDP all-reduces gradients on every backward unless told not to; only the last
            # micro-batch of a group needs it.
            last = position == len(group) - 1
            sync_off = no_sync() if (no_sync is not None and not last) else contextlib.nullcontext()
            with sync_off:
                (loss / len(group)).backward()
            group_loss += value / len(group)
            samples += len(indices)
        lr = optimizer.param_groups[0]["lr"]  # this step's, as the scheduler set it after the last
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        total_loss += group_loss
        seen += 1
        if on_step is not None:
            on_step(step, group_loss, lr, samples / max(time.perf_counter() - started, 1e-9))
        if after_step is not None:
            after_step(Position(step, seen, total, total_loss, samples))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return EpochStats(total_loss / max(seen, 1), samples, time.perf_counter() - started, step - first_step)


# ---------------------------------------------------------------------------------------------
# the run


class Run:
    def __init__(self, config: TrainConfig, ctx: Context, dist: distributed.Dist,
                 stop: Optional[stopping.StopRequest] = None):
        self.config = config
        self.ctx = ctx
        self.dist = dist
        self.out = config.out
        self.stop = stop or stopping.StopRequest()

    # -- setup ------------------------------------------------------------------------------

    def execute(self) -> dict:
        finished = self._finished_result()
        if finished is not None:
            return finished
        import torch

        cfg = self.config
        self.ctx.progress("train", message="loading data and model")
        tokenizer = load_tokenizer(cfg.model)
        model_config = load_config(cfg.model)
        family = family_of(cfg.model, model_config)
        data = load_task_data(cfg.task, tokenizer, model_config, cfg.training.seed)
        for warning in model_warnings(cfg.model):
            self.ctx.log(warning)
        report_dropped(cfg.task, data, self.ctx.log)
        self.tokenizer, self.data = tokenizer, data
        self.device = distributed.device_for(self.dist)
        self.amp = autocast_dtype(cfg.training, self.device)

        torch.manual_seed(cfg.training.seed)  # head and LoRA initialisation
        base = load_classifier(cfg.model, data.train.num_labels, data.train.regression)
        if base.config.pad_token_id != tokenizer.pad_token_id:
            # Decoders find the last real token by pad id: it must be the tokenizer's pad (eos).
            base.config.pad_token_id = tokenizer.pad_token_id
        if cfg.model.dtype != "float32" and self.amp is None and next(base.parameters()).dtype != torch.float32:
            raise ValueError(f"model.dtype {cfg.model.dtype} loads a low-precision backbone; training it needs "
                             f"bf16 autocast (training.precision bf16, or auto on a GPU)")
        model = build_lora_model(base, family, cfg.lora, cfg.init)
        for _, param in trainable_parameters(model):
            param.data = param.data.float()  # optimizer state and updates in fp32
        if cfg.training.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if hasattr(model.config, "use_cache"):
                model.config.use_cache = False
        self.model = model.to(self.device)
        self.ddp = distributed.wrap(self.model, self.dist)
        self.optimizer, self.param_names = make_optimizer(self.model, cfg.training)

        self._claim_out()
        try:
            return self._loop()
        finally:
            distributed.barrier(self.dist)

    def _claim_out(self) -> None:
        """`out` belongs to one payload: a different run there is an error, not an overwrite."""
        path = os.path.join(self.out, "train_config.json")
        if self.dist.main:
            os.makedirs(self.out, exist_ok=True)
            resumable = os.path.isfile(os.path.join(checkpoint.checkpoint_root(self.out), "latest.json"))
            if os.path.isfile(path) and resumable:
                with open(path, encoding="utf-8") as f:
                    if fingerprint_of(json.load(f)) != self.config.fingerprint():
                        raise ValueError(f"out {self.out} holds an unfinished training run with a different "
                                         f"payload; choose another out folder or delete it")
            # With no checkpoint there is nothing to protect (e.g. a run that diverged in epoch 1
            # and is retried with a lower lr): the folder is claimed for this payload.
            checkpoint.write_json_atomic(path, self.config.raw)

    def _finished_result(self) -> Optional[dict]:
        path = os.path.join(self.out, "metrics.json")
        config_path = os.path.join(self.out, "train_config.json")
        if not (os.path.isfile(path) and os.path.isfile(config_path)):
            return None
        with open(config_path, encoding="utf-8") as f:
            if fingerprint_of(json.load(f)) != self.config.fingerprint():
                raise ValueError(f"out {self.out} holds a finished training run with a different payload; "
                                 f"choose another out folder or delete it")
        with open(path, encoding="utf-8") as f:
            return self._result(json.load(f), resumed_from=None, reused=True)

    # -- the loop ---------------------------------------------------------------------------

    def _batches(self, epoch: int) -> list[list[int]]:
        """The epoch's global micro-batches (every rank computes the same list)."""
        tr = self.config.training
        lengths = [len(s) for s in self.data.train_encoded.input_ids]
        # The order depends only on (seed, epoch): a resumed run sees the same batches.
        return batch_order(lengths, tr.batch_size, shuffle=True, seed=tr.seed * 1000 + epoch,
                           group_by_length=tr.group_by_length)

    def _save(self, epoch: int, step: int, scheduler, history: list, best, best_state,
              position: Optional[dict] = None) -> None:
        """A checkpoint at the end of `epoch`, or inside it at `position`; rank 0 writes, every
        rank waits for it."""
        from peft import get_peft_model_state_dict

        if self.dist.main:
            optimizer_tensors, optimizer_meta = checkpoint.optimizer_to_flat(self.optimizer, self.param_names)
            state = {"fingerprint": self.config.fingerprint(), "epoch": epoch, "step": step, "history": history,
                     "best": best, "optimizer": optimizer_meta, "scheduler": scheduler.state_dict(),
                     "world_size": self.dist.world, "position": position}
            checkpoint.save_checkpoint(self.out, epoch, state, get_peft_model_state_dict(self.model),
                                       best_state or {}, optimizer_tensors, step=step,
                                       in_epoch=None if position is None else position["groups"])
        distributed.barrier(self.dist)

    def _stopped(self, step: int) -> stopping.TrainingStopped:
        return stopping.TrainingStopped(
            f"training stopped by {self.stop.name} after optimizer step {step}; its checkpoint is in "
            f"{checkpoint.checkpoint_root(self.out)}, and the same payload resumes from it")

    def _loop(self) -> dict:
        from peft import get_peft_model_state_dict, set_peft_model_state_dict

        cfg, tr = self.config, self.config.training
        distributed.check_batch(tr.batch_size, self.dist)
        interval = checkpoint.parse_interval(tr.checkpoint_every)
        steps_per_epoch = math.ceil(len(self._batches(1)) / tr.grad_accum)
        total_steps = steps_per_epoch * tr.epochs
        scheduler = make_scheduler(self.optimizer, tr, total_steps)
        history: list[dict] = []
        best: Optional[dict] = None
        best_state: Optional[dict] = None
        start_epoch, step, resumed_from = 1, 0, None
        position: Optional[dict] = None  # inside the epoch a mid-epoch checkpoint resumes

        saved = checkpoint.load_checkpoint(self.out)
        if saved is not None:
            if saved.state["fingerprint"] != cfg.fingerprint():
                raise ValueError(f"the checkpoint in {checkpoint.checkpoint_root(self.out)} is from a different "
                                 f"payload; delete it to start over")
            set_peft_model_state_dict(self.model, saved.trainable)
            checkpoint.optimizer_from_flat(self.optimizer, saved.optimizer, saved.state["optimizer"])
            scheduler.load_state_dict(saved.state["scheduler"])
            checkpoint.restore_rng(saved.rng)
            history, best, best_state = saved.state["history"], saved.state["best"], saved.best or None
            step, position = saved.state["step"], saved.state.get("position")
            if position is None:
                resumed_from = saved.state["epoch"]
                start_epoch = resumed_from + 1
                self.ctx.log(f"resuming after epoch {resumed_from} of {tr.epochs}")
            else:
                start_epoch = position["epoch"]
                resumed_from = start_epoch - 1
                self.ctx.log(f"resuming in epoch {start_epoch} of {tr.epochs} after optimizer step {step} "
                             f"({position['groups']} of the epoch's {steps_per_epoch} steps done)")

        baseline = majority_baseline(self.data)
        padding_side = getattr(self.tokenizer, "padding_side", "right")
        no_sync = self.ddp.no_sync if self.dist.enabled else None
        # Steps after the checkpoint that an interrupted attempt logged are purged: none twice.
        board = self._board(purge_step=step + 1) if self.dist.main else None

        def on_step(current: int, loss: float, lr: float, rate: float) -> None:
            self.ctx.progress("train", current=current, total=total_steps, unit="step", epoch=self.epoch,
                              loss=loss, lr=lr, samples_per_s=rate)
            if board is not None:
                board.add_scalar("train/loss", loss, current)
                board.add_scalar("train/lr", lr, current)
                board.add_scalar("train/samples_per_s", rate, current)

        try:
            return self._epochs(start_epoch, step, history, best, best_state, baseline, resumed_from, scheduler,
                                padding_side, no_sync, on_step, board, interval, position, steps_per_epoch)
        finally:
            if board is not None:
                board.close()

    def _board(self, purge_step: int):
        """The TensorBoard writer in `<out>/tensorboard/`, or None when tensorboard is missing
        (an interpreter of the user's own): training goes on, without event files."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            self.ctx.log(f"warning: no TensorBoard event files ({exc}); `pip install tensorboard` to get them")
            return None
        return SummaryWriter(log_dir=os.path.join(self.out, "tensorboard"), purge_step=purge_step)

    def _epochs(self, start_epoch, step, history, best, best_state, baseline, resumed_from, scheduler,
                padding_side, no_sync, on_step, board, interval, position, steps_per_epoch) -> dict:
        from peft import get_peft_model_state_dict

        cfg, tr = self.config, self.config.training
        last_save = [time.monotonic()]

        def after_step(at: Position) -> None:
            due = ((interval.steps is not None and at.step % interval.steps == 0)
                   or (interval.minutes is not None and self.dist.main
                       and time.monotonic() - last_save[0] >= interval.minutes * 60))
            # Every rank must take the same decision at the same step.
            stop, due = distributed.any_over_ranks([self.stop.requested, due], self.dist)
            if not stop and (not due or at.last):
                return  # (the epoch-end checkpoint follows the last step)
            loss_sum = distributed.mean_over_ranks(at.loss_sum, self.dist)  # the ranks' mean: resumable on any world
            self._save(epoch, at.step, scheduler, history, best, best_state,
                       position={"epoch": epoch, "groups": at.groups, "loss_sum": loss_sum})
            last_save[0] = time.monotonic()
            if stop:
                if board is not None:
                    board.flush()
                raise self._stopped(at.step)

        for epoch in range(start_epoch, tr.epochs + 1):
            self.epoch = epoch
            here = position if position is not None and position["epoch"] == epoch else None
            carry = (Position(step, here["groups"], steps_per_epoch, here["loss_sum"], 0)
                     if here is not None else None)
            stats = train_steps(self.ddp, self.optimizer, self.data.train_encoded, self._batches(epoch),
                                pad_id=self.tokenizer.pad_token_id, padding_side=padding_side,
                                device=self.device, amp_dtype=self.amp, grad_accum=tr.grad_accum, scheduler=scheduler,
                                first_step=step, epoch=epoch, on_step=on_step, no_sync=no_sync,
                                part=lambda indices: distributed.part(indices, self.dist), world=self.dist.world,
                                start_group=here["groups"] if here is not None else 0, carry=carry,
                                after_step=after_step)
            step += stats.steps
            loss = distributed.mean_over_ranks(stats.loss, self.dist)
            record = {"epoch": epoch, "step": step, "loss": loss,
                      "samples_per_s": stats.samples / max(stats.seconds, 1e-9),
                      "train_seconds": stats.seconds}
            if self.dist.main:
                self.ctx.progress("eval", message=f"epoch {epoch}")
                result = self._evaluate(self.data.eval, self.data.eval_encoded)[0]
                record.update(score=result["score"], metrics=result["metrics"])
                # keep_epoch "last" keeps every epoch in turn: the final one is saved, nothing is
                # chosen on the eval split.
                if best is None or result["score"] > best["score"] or tr.keep_epoch == "last":
                    best = {"epoch": epoch, "score": result["score"], "metrics": result["metrics"]}
                    best_state = {k: v.detach().cpu().clone()
                                  for k, v in get_peft_model_state_dict(self.model).items()}
                history.append(record)
                if board is not None:
                    board.add_scalar("train/epoch_loss", loss, step)
                    board.add_scalar("train/epoch_samples_per_s", record["samples_per_s"], step)
                    board.add_scalar(f"eval/{self.data.metric}", result["score"], step)
                    for name, value in result["metrics"].items():
                        if name != self.data.metric:
                            board.add_scalar(f"eval/{name}", value, step)
                    board.flush()
                self.ctx.log(f"epoch {epoch}/{tr.epochs}: loss {loss:.4f}  {self.data.metric} {result['score']:.4f}"
                             f"  (best {best['score']:.4f} @ {best['epoch']})")
            self._save(epoch, step, scheduler, history, best, best_state)
            last_save[0] = time.monotonic()
            if distributed.any_over_ranks([self.stop.requested], self.dist)[0]:
                raise self._stopped(step)

        if not self.dist.main:
            return {}
        return self._finish(best, best_state, history, baseline, resumed_from)

    def _evaluate(self, examples, encoded) -> tuple[dict, "object"]:
        logits = predict_logits(self.model, self.tokenizer, examples, self.config.task.max_length,
                                self.config.training.eval_batch_size, device=self.device, encoded=encoded,
                                autocast_dtype=self.amp)
        return score(self.data.metric, predictions_from_logits(logits, examples.regression), examples.labels), logits

    # -- output -----------------------------------------------------------------------------

    def _finish(self, best: dict, best_state: dict, history: list, baseline: dict,
                resumed_from: Optional[int]) -> dict:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(self.model, best_state)
        data = self.data
        result, logits = self._evaluate(data.eval, data.eval_encoded)
        metrics = {"best": best, "history": history, "majority_baseline": baseline,
                   "task": self.config.task.name, "metric": data.metric,
                   "train_examples": len(data.train), "eval_examples": len(data.eval),
                   "dropped_rows": dropped_rows(data)}
        if data.eval_mismatched is not None:
            metrics["eval_mismatched"] = self._evaluate(data.eval_mismatched, data.eval_mismatched_encoded)[0]
        from peft import get_peft_model_state_dict

        train = data.train
        task_info = {"task": self.config.task.name, "num_labels": train.num_labels, "regression": train.regression,
                     "labels": list(train.label_names), "metric": data.metric}
        cfg = self.config
        card = model_card(task_info={**task_info, **_label_names(task_info)},
                          base=model_reference(cfg.model.name_or_path, cfg.model.revision),
                          score=best["score"], metrics=best["metrics"], best_epoch=best["epoch"],
                          epochs=cfg.training.epochs, init=self._init_description(), lora=cfg.lora,
                          training=cfg.training, baseline=baseline,
                          examples={"train": len(data.train), "eval": len(data.eval)},
                          provenance=_provenance(cfg.provenance))
        write_adapter(self.out, {}, self.model.peft_config["default"], base_model=cfg.model.name_or_path,
                      revision=cfg.model.revision, tensors=get_peft_model_state_dict(self.model),
                      task_info=task_info, card=card)
        checkpoint.save_tensors(os.path.join(self.out, "eval_predictions.safetensors"),
                                {"logits": _tensor(logits)}, metadata={"split": "eval", "epoch": str(best["epoch"])})
        # metrics.json last: its presence marks the run as finished.
        checkpoint.write_json_atomic(os.path.join(self.out, "metrics.json"), metrics)
        checkpoint.remove_checkpoints(self.out)
        normalise_modes(self.out)
        if abs(result["score"] - best["score"]) > 1e-6 and self.amp is None:
            self.ctx.log(f"warning: the saved model scores {result['score']:.6f}, its epoch scored {best['score']:.6f}")
        return self._result(metrics, resumed_from, reused=False)

    def _init_description(self) -> str:
        init = self.config.init
        if init.kind != "osrm":
            return "gaussian (PEFT's default: A random, B = 0)"
        try:
            with open(os.path.join(init.adapter, "osrm_adapter.json"), encoding="utf-8") as f:
                info = json.load(f)
        except (OSError, ValueError):
            return "osrm (A from the other tasks' input statistics, B = 0)"
        others = ", ".join(sorted(info.get("stats") or {}))
        return (f"osrm, variant {info.get('variant')} (A orthogonal to the inputs of the other tasks"
                f"{': ' + others if others else ''}; B = 0)")

    def _result(self, metrics: dict, resumed_from: Optional[int], reused: bool) -> dict:
        best = metrics["best"]
        return {"adapter": self.out, "metrics_file": os.path.join(self.out, "metrics.json"),
                "best_epoch": best["epoch"], "score": best["score"], "metrics": best["metrics"],
                "majority_baseline": metrics["majority_baseline"], "history": metrics["history"],
                "resumed_from_epoch": resumed_from, "reused": reused,
                # metrics.json of runs finished before rows could be dropped has no count: none were
                "dropped_rows": metrics.get("dropped_rows", {"train": 0, "eval": 0})}


def _label_names(task_info: dict) -> dict:
    from ..adapters import label_maps

    return label_maps(task_info)


def _provenance(provenance) -> Optional[dict]:
    if provenance is None:
        return None
    return {"command": provenance.command, "config": provenance.config, "tool": provenance.tool}


def _tensor(array):
    import torch

    return torch.from_numpy(array).float()
