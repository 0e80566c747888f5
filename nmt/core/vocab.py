"""Special-token conventions shared by tokenization, training and decoding.

Every sentencepiece model this project trains reserves the same four ids:

    PAD = 0   padding; never predicted, masked out of attention and of the loss
    UNK = 1   unknown piece (rare: byte fallback is on by default)
    BOS = 2   first decoder input; never part of a stored sequence
    EOS = 3   end of sentence

Token shards store the pieces of a sentence only: no BOS, no EOS. Batching adds them:

    source   x = pieces + [EOS]                   (the encoder sees where the sentence ends)
    decoder  input  = [BOS] + pieces
             output = pieces + [EOS]              (the model learns to stop)

Decoding starts from BOS and stops at EOS; returned hypotheses exclude both.
"""

PAD = 0
UNK = 1
BOS = 2
EOS = 3

PAD_PIECE = "<pad>"
UNK_PIECE = "<unk>"
BOS_PIECE = "<s>"
EOS_PIECE = "</s>"

SPECIAL_IDS = {"pad_id": PAD, "unk_id": UNK, "bos_id": BOS, "eos_id": EOS}
