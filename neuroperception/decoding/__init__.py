"""Decoding: fMRI responses -> feature space, then retrieval and identification of what was seen.

Linear (ridge) and contrastive decoders map responses ``("stimulus", "voxel")`` to a feature space
(CLIP image embeddings, any network layer, motion energy); retrieval and 2-way identification
score the decoded embeddings against the stimuli's true ones, in both directions and among random
subsets of candidates as the decoding papers report them; ROI ablation refits a decoder with each
ROI removed and each ROI alone to show where the information lives. ``SharedSpaceDecoder`` decodes several subjects
through per-subject adapters into one shared latent and one shared head, and adapts to a new subject
with the shared part frozen; ``SharedSpaceEncoder`` is its encoding counterpart (one shared
feature-to-latent map, per-subject readouts); ``cross_subject_decoding`` applies each subject's decoder to
every other subject's responses through functional alignment.
"""

from .ridge_decoder import RidgeDecoder
from .contrastive import ContrastiveDecoder
from .retrieval import retrieval_accuracy, similarity_matrix, two_way_identification
from .ablation import ablation_summary, roi_ablation, roi_ablation_subjects
from .shared import SharedSpaceDecoder
from .shared_encoder import SharedSpaceEncoder
from .cross_subject import cross_subject_decoding
from .flow_basis import FlowBasis
from .flow import FlowDecoder
from .flow_evaluation import ShuffleBaseline, flow_decoding_report, render_motion, shuffle_baseline

__all__ = ["RidgeDecoder", "ContrastiveDecoder", "SharedSpaceDecoder", "SharedSpaceEncoder", "retrieval_accuracy", "two_way_identification", "similarity_matrix", "roi_ablation",
           "roi_ablation_subjects", "ablation_summary", "cross_subject_decoding",
           "FlowBasis", "FlowDecoder", "ShuffleBaseline", "shuffle_baseline", "flow_decoding_report",
           "render_motion"]
