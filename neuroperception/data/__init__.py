"""Brain data: responses as labelled arrays, readers for the formats users have, noise ceilings,
and a simulated brain with a planted ground truth.

Examples
--------
>>> import numpy as np
>>> from neuroperception.data import make_responses
>>> make_responses(np.zeros((4, 3)), ["a", "b", "c", "d"], roi="V1").dims
('stimulus', 'voxel')
"""

from .responses import average_repeats, load_responses, make_responses, save_responses, select_stimuli, stack_repeats
from .algonauts import ALGONAUTS_ROI_FAMILIES, load_algonauts2023, load_algonauts2023_images
from .nifti import load_nifti_responses
from .nsd import NSD_TRIALS_PER_SESSION, load_nsd_betas, nsd_subject
from .surface import MESH_VERTICES, load_surface_responses
from .simulated import ROI_PLACEMENT, SimulatedBrain, simulate_brain
from .subjects import Subjects, load_subjects
from .simulated_subjects import SimulatedSubjects, simulate_subjects
from .subject_readers import load_algonauts2023_subjects, load_nsd_subjects
from .energy import ENERGY_CHANNELS, contrast_energy
from .glm import single_trial_betas
from .noise_ceiling import ncsnr, noise_ceiling, noise_ceiling_from_ncsnr

__all__ = [
    "make_responses", "stack_repeats", "average_repeats", "save_responses", "load_responses", "select_stimuli",
    "load_nifti_responses", "load_surface_responses", "MESH_VERTICES", "load_nsd_betas", "nsd_subject",
    "NSD_TRIALS_PER_SESSION", "load_algonauts2023", "load_algonauts2023_images", "ALGONAUTS_ROI_FAMILIES",
    "simulate_brain", "SimulatedBrain", "ROI_PLACEMENT", "Subjects", "load_subjects", "simulate_subjects",
    "SimulatedSubjects", "load_nsd_subjects", "load_algonauts2023_subjects", "contrast_energy", "ENERGY_CHANNELS",
    "single_trial_betas", "noise_ceiling", "ncsnr", "noise_ceiling_from_ncsnr",
]
