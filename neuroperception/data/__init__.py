"""Brain data: responses as labelled arrays, readers for the formats users have, noise ceilings,
and a simulated brain with a planted ground truth.

Examples
--------
>>> import numpy as np
>>> from neuroperception.data import make_responses
>>> make_responses(np.zeros((4, 3)), ["a", "b", "c", "d"], roi="V1").dims
('stimulus', 'voxel')
"""

from .responses import average_repeats, load_responses, make_responses, save_responses, stack_repeats

__all__ = ["make_responses", "stack_repeats", "average_repeats", "save_responses", "load_responses"]
