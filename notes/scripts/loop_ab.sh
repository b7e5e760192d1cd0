#!/bin/bash
# A/B of the pretraining loop: frozen tree (before the split) vs main (after), same data/settings.
# The key names are those of both trees compared (before commit ce1cc7f): since then the keys are
# PretrainingConfig's (`preset` for `encoder_preset`, `whole_word_masking`, flags as "true"/"false").
EX=${EX:?the PretrainingExampleGen output folder}
VOCAB=${VOCAB:?the Vocabulary artifact folder}
HP='{"encoder_preset":"small","encoder":{"dropout":0.0},"seq_len":128,"batch_size":32,"train_steps":120,"warmup_steps":10,"learning_rate":0.0005,"next_sentence_prediction":false,"checkpoint_every":60,"eval_steps":null,"seed":7}'
for round in 1 2; do
  for tree in frozen main; do
    rm -rf /tmp/ab_$tree
    (cd /work/$tree && PYTHONPATH=/work/$tree /work/main/.venv/bin/python -m components.pretraining.cli \
      --train-files "$EX/Split-train/*" --model-dir /tmp/ab_$tree --vocab-dir $VOCAB --hparams "$HP" 2>/dev/null \
      | tail -1 | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); print('$tree', $round, r['seconds'], r['steps_run'], r['last_loss'])")
  done
done
