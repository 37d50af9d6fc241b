"""The train loop: ``train_and_evaluate(config, workdir)``.

Restore priority: (1) this workdir's latest checkpoint, (2) pretrained towers named in
``config.model.*.init`` on a fresh state, (3) random init. The input order is a function of
(seed, step) only, so a resumed run sees exactly the batches an uninterrupted run would.

Logs (process 0): TensorBoard events + log lines in ``workdir`` (clu metric writers), steps/s,
examples/s and ETA (clu ReportProgress), optional profiler traces.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Iterator

import jax
import ml_collections
import numpy as np
import tensorflow as tf
from clu import metric_writers
from clu import periodic_actions
from etils import epath

from focusclip_jax import batch_spec
from focusclip_jax import checkpointing
from focusclip_jax import config_lib
from focusclip_jax import evaluators as evaluators_lib
from focusclip_jax import models
from focusclip_jax import optimizer
from focusclip_jax import sharding as sharding_lib
from focusclip_jax import text_buckets
from focusclip_jax import text_cache
from focusclip_jax import train_state
from focusclip_jax import train_step as train_step_lib
from focusclip_jax.models import pretrained
from input_pipeline import pipeline


class TrainingDivergedError(RuntimeError):
  """Too many consecutive steps with a non-finite loss, gradient or update."""


def hide_gpus_from_tensorflow():
  """TensorFlow is for data only; without this it grabs all GPU memory (flax #445)."""
  try:
    tf.config.set_visible_devices([], "GPU")
  except RuntimeError:  # already initialised; nothing to do
    pass


class PreemptionWatcher:
  """SIGTERM -> save the current step and exit cleanly.

  Single process: a Python SIGTERM handler sets a flag. Several processes: JAX's preemption
  sync point (through Orbax), which all processes reach at the same step.
  """

  def __init__(self, checkpointer: checkpointing.Checkpointer):
    self.checkpointer = checkpointer
    self.flag = threading.Event()
    self.previous = None
    if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
      self.previous = signal.signal(signal.SIGTERM, self._handler)

  def _handler(self, signum, frame):
    del signum, frame
    logging.warning("SIGTERM received: will save a checkpoint and stop after this step")
    self.flag.set()

  def __call__(self, step: int) -> bool:
    if self.flag.is_set():
      return True
    return jax.process_count() > 1 and self.checkpointer.reached_preemption(step)

  def close(self):
    if self.previous is not None:
      signal.signal(signal.SIGTERM, self.previous)


def num_train_steps(config, datasets) -> int:
  if config.train.num_steps > 0:
    return int(config.train.num_steps)
  return int(config.train.num_epochs * datasets.steps_per_epoch)


def _flat_hparams(config) -> dict:
  out = {}

  def walk(node, prefix):
    for k, v in node.items():
      if isinstance(v, ml_collections.ConfigDict):
        walk(v, f"{prefix}{k}.")
      else:
        out[prefix + k] = v if isinstance(v, (int, float, str, bool)) else str(v)

  walk(config, "")
  return out


def _format_memory(mem) -> str:
  if mem is None:
    return "n/a"
  gib = 1024**3
  return (f"arguments {mem.argument_size_in_bytes / gib:.3f} GiB, outputs "
          f"{mem.output_size_in_bytes / gib:.3f} GiB, temporaries {mem.temp_size_in_bytes / gib:.3f} "
          f"GiB, aliased {mem.alias_size_in_bytes / gib:.3f} GiB (per device)")


def progress_line(step: int, total: int, mean: dict, seconds_per_step: float) -> str:
  """The console line of a log interval: step/total, loss, examples/s, ETA."""
  eta = int(round(max(total - step, 0) * seconds_per_step))
  return (f"step {step}/{total}  loss {mean['loss']:.4f}  "
          f"{mean['examples_per_sec']:.1f} examples/s  ETA {eta // 3600}:{eta // 60 % 60:02d}:"
          f"{eta % 60:02d}")


def initial_state(config, model, tx, mesh, checkpointer):
  """Restores the latest checkpoint, or creates a fresh state (with pretrained towers)."""
  abstract = train_state.abstract_state(model, config, tx, mesh)
  latest = checkpointer.latest_step()
  if latest is not None:
    logging.info("Resuming from %s/%d", checkpointer.directory, latest)
    changed = checkpointing.config_changes(checkpointer.saved_config(latest),
                                           checkpointer.config_json)
    if changed and jax.process_index() == 0:
      shown = "; ".join(changed[:10]) + (" ..." if len(changed) > 10 else "")
      message = (f"Resuming {checkpointer.directory} at step {latest} with a config that differs "
                 f"from the one it was trained with: {shown} (fine if intended, e.g. more "
                 "steps; to start over use a new workdir)")
      logging.warning(message)
      print(f"WARNING: {message}", flush=True)
    return checkpointer.restore(abstract), True
  state = train_state.create_state(model, config, tx, mesh, jax.random.key(config.seed))
  if config.model.image.init or config.model.text.init:
    params = pretrained.load_pretrained_towers(state.params, model, config)
    state = train_state.replace_params(
        state, params, train_state.state_shardings(model, config, tx, mesh))
  return state, False


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *, datasets=None,
                       train_iter: Iterator | None = None, devices=None):
  """Trains (resuming from ``workdir`` when possible) and evaluates; returns the final state.

  ``datasets``: an ``input_pipeline.pipeline.Datasets`` (default: ``create_datasets(config)``).
  ``train_iter``: optional iterator of this process's batches overriding
  ``datasets.train_iter(start_step)`` (tests use it to replay fixed batches).
  ``devices``: the devices of the mesh (default: all, ``jax.devices()``), e.g. a subset of a
  Colab runtime's or a test's.
  """
  config_lib.validate(config)
  hide_gpus_from_tensorflow()
  workdir = str(workdir)
  epath.Path(workdir).mkdir(parents=True, exist_ok=True)
  checkpointing.write_config(workdir, config)
  logging.info("process %d/%d, local devices %d, global devices %d (%s)", jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count(),
               jax.devices()[0].platform)

  mesh = sharding_lib.create_mesh(config, devices)
  divisor = sharding_lib.global_batch_size_divisor(mesh, config)
  if config.train.batch_size % divisor:
    raise config_lib.ConfigError(
        f"config.train.batch_size {config.train.batch_size} is not divisible by the {divisor} "
        f"devices of the batch mesh axes {sharding_lib.batch_axes(config)}")
  if config.train.microbatch_size % divisor:
    raise config_lib.ConfigError(
        f"config.train.microbatch_size {config.train.microbatch_size} is not divisible by the "
        f"{divisor} devices of the batch mesh axes {sharding_lib.batch_axes(config)} (each "
        "micro-batch is split over them)")
  model = models.build_model(config)
  if datasets is None:
    datasets = pipeline.create_datasets(config)
  total_steps = num_train_steps(config, datasets)
  tx, lr_schedule = optimizer.build(config, train_state.abstract_train_params(model, config),
                                    total_steps)
  checkpointer = checkpointing.Checkpointer(workdir, config)
  state, resumed = initial_state(config, model, tx, mesh, checkpointer)
  start_step = int(jax.device_get(state.step))
  if start_step >= total_steps:
    logging.info("Training already finished: step %d of %d in %s. Nothing to do.", start_step,
                 total_steps, workdir)
    print(f"Training already finished (step {start_step}/{total_steps} in {workdir}).")
    checkpointer.close()
    return state

  text_features = None
  if config.train.cache_text_features:
    text_features = text_cache.TextFeatureCache(model, config, mesh)
  def compile_step(step_model):
    t0 = time.time()
    jitted = train_step_lib.build_step(step_model, config, tx, lr_schedule, mesh)
    compiled, memory, cost = train_step_lib.compile_train_step(jitted, step_model, config, tx,
                                                               mesh)
    keys = step_model.text_tower.kv_length or config.model.text.max_length
    logging.info("Compiled the train step (text attention over %d keys) in %.1fs; memory: %s; "
                 "%.3g FLOPs/step", keys, time.time() - t0, _format_memory(memory),
                 cost.get("flops", float("nan")))
    return compiled

  # One compiled step per text key length (config.model.text.attention_buckets), compiled
  # when a batch first needs it; without buckets the one step is compiled now.
  steps = text_buckets.PerBucket(model, config, compile_step)
  if not config.model.text.attention_buckets or text_features is not None:
    _ = steps[0]

  writer = metric_writers.create_default_writer(
      workdir, just_logging=jax.process_index() > 0, asynchronous=True)
  if not resumed:
    writer.write_hparams(_flat_hparams(config))
  hooks = [periodic_actions.ReportProgress(
      num_train_steps=total_steps, writer=writer, every_steps=config.train.log_every_steps)]
  if config.train.profile_steps and jax.process_index() == 0:
    hooks.append(periodic_actions.Profile(
        logdir=workdir, num_profile_steps=config.train.profile_steps,
        first_profile=min(start_step + 10, total_steps - 1)))
  evaluators = evaluators_lib.build(config, model=model, mesh=mesh, datasets=datasets,
                                    workdir=workdir)
  preemption = PreemptionWatcher(checkpointer)
  batch_sharding = sharding_lib.batch_sharding(mesh, config)
  if train_iter is None:
    train_iter = datasets.train_iter(start_step)
  logging.info("Training steps %d..%d (%d steps/epoch, global batch %d)", start_step,
               total_steps, datasets.steps_per_epoch, config.train.batch_size)

  def run_evaluators(step):
    for ev in evaluators:
      values = ev(state.params, step)
      if values:
        writer.write_scalars(step, values)

  def check_nonfinite(step, metrics):
    if int(metrics["nonfinite"]):
      streak = int(metrics["nonfinite_streak"])
      logging.warning("Step %d: non-finite loss, gradient or update; the update was skipped "
                      "(%d in a row)", step, streak)
      if streak >= config.train.max_nonfinite_steps:
        # True by construction: skipped steps leave the state unchanged and Checkpointer.save
        # refuses to write NaN/Inf.
        raise TrainingDivergedError(
            f"{streak} consecutive steps with a non-finite loss, gradient or update (last at "
            f"step {step}); training stopped. The latest checkpoint in {workdir} holds the last "
            "good state. Lower config.optim.learning_rate, keep config.optim.grad_clip_norm > 0, "
            "or check the data for NaN/Inf.")

  buffer, pending = [], None
  step = start_step
  last_log = (time.time(), start_step)
  try:
    with sharding_lib.mesh_context(mesh, config):
      while step < total_steps:
        with jax.profiler.StepTraceAnnotation("train", step_num=step):
          batch = next(train_iter)
          inputs = batch_spec.model_inputs(batch, focus=model.focus)
          if text_features is not None:  # the step does not run the text tower
            inputs = text_features(state.params, inputs)
            compiled = steps[0]
          else:
            compiled = steps.for_mask(inputs["text_mask"])
          state, metrics = compiled(state, sharding_lib.make_global_batch(inputs, batch_sharding))
        step += 1
        # Lagged by one step so the host never waits for the step it just dispatched.
        if pending is not None:
          check_nonfinite(*pending)
        pending = (step, metrics)
        buffer.append(metrics)
        for hook in hooks:
          hook(step)
        if step % config.train.log_every_steps == 0 or step == total_steps:
          fetched = jax.device_get(buffer)
          mean = {k: float(np.mean([m[k] for m in fetched])) for k in fetched[0]}
          mean["nonfinite"] = float(np.sum([m["nonfinite"] for m in fetched]))
          mean.pop("nonfinite_streak")
          now = time.time()
          steps_done = step - last_log[1]
          mean["examples_per_sec"] = steps_done * config.train.batch_size / max(now - last_log[0],
                                                                                1e-9)
          seconds_per_step = (now - last_log[0]) / max(steps_done, 1)
          last_log = (now, step)
          writer.write_scalars(step, {f"train/{k}": v for k, v in mean.items()})
          if jax.process_index() == 0:
            print(progress_line(step, total_steps, mean, seconds_per_step), flush=True)
          buffer = []
        if config.train.eval_every_steps and step % config.train.eval_every_steps == 0:
          run_evaluators(step)
        checkpointer.save(step, state)
        if preemption(step):
          # The regular save above may already have written (or be writing) this step: with
          # several processes Orbax's preemption policy saves it there; save() then skips it.
          checkpointer.save(step, state, force=True)
          checkpointer.wait()
          logging.warning("Preempted: saved step %d to %s; exiting", step, workdir)
          return state
      if pending is not None:
        check_nonfinite(*pending)
      checkpointer.save(step, state, force=True)  # no-op when the schedule saved it
      if evaluators and not (config.train.eval_every_steps and
                             step % config.train.eval_every_steps == 0):
        run_evaluators(step)
  finally:
    preemption.close()
    writer.flush()
    checkpointer.close()
    if text_features is not None:
      logging.info("Text feature cache: %d distinct texts, computed in %d batches",
                   len(text_features), text_features.computed_batches)
  return state
