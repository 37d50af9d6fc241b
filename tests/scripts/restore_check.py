"""Restores a workdir's latest train state on a 1-device mesh and dumps its params (.npz).

Run in a process with a different device count than the one that wrote the checkpoint.
usage: restore_check.py WORKDIR OUT.npz
"""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from focusclip_jax import checkpointing  # pylint: disable=wrong-import-position
from focusclip_jax import models  # pylint: disable=wrong-import-position
from focusclip_jax import optimizer  # pylint: disable=wrong-import-position
from focusclip_jax import sharding  # pylint: disable=wrong-import-position
from focusclip_jax import train_state  # pylint: disable=wrong-import-position
from focusclip_jax.models import params_util  # pylint: disable=wrong-import-position


def main(workdir, out):
  assert jax.device_count() == 1
  _, _, config = checkpointing.load_for_inference(workdir)
  mesh = sharding.create_mesh(config)
  model = models.build_model(config)
  tx, _ = optimizer.build(config, train_state.abstract_train_params(model, config), 10)
  ckpt = checkpointing.Checkpointer(workdir, config)
  state = ckpt.restore(train_state.abstract_state(model, config, tx, mesh))
  ckpt.close()
  leaf = jax.tree.leaves(state.params)[0]
  assert len(leaf.sharding.device_set) == 1
  flat = params_util.flatten(jax.device_get(state.params))
  np.savez(out, step=np.asarray(jax.device_get(state.step)), **flat)


if __name__ == "__main__":
  main(*sys.argv[1:])
