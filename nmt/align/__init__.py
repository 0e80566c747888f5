"""Word alignment: attention read as links, Pharaoh text, symmetrisation, and AER against gold links.

It sits beside text, below model: training, translation and evaluation all read links.
"""

from nmt.align.aer import AlignmentScore, read_pharaoh, read_talp
from nmt.align.links import Link, matrix_links, pharaoh, word_attention
from nmt.align.symmetrize import symmetrize

__all__ = [
    "AlignmentScore",
    "Link",
    "matrix_links",
    "pharaoh",
    "read_pharaoh",
    "read_talp",
    "symmetrize",
    "word_attention",
]
