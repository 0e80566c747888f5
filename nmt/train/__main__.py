"""`python -m nmt.train` (or `torchrun ... -m nmt.train`): train with a JSON TrainConfig."""

from nmt.train.run import main

main()
