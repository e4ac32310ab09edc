"""Behaviour: controlled stimulus triplets and odd-one-out benchmarks.

Triplet generation needs features and similarity, which sit above :mod:`neuroperception.stimuli`
in the package's layering, so it lives here rather than in ``stimuli``.

Examples
--------
>>> from neuroperception.behaviour import generate_triplets, odd_one_out_accuracy
>>> callable(generate_triplets) and callable(odd_one_out_accuracy)
True
"""

from .pool import candidate_pool
from .things import OddOneOutResult, odd_one_out_accuracy
from .things_triplets import ObjectOrderWarning, ThingsTriplets, load_things_triplets
from .triplets import TRIPLET_COLUMNS, generate_triplets
from .choice import fit_choice_model, simulate_observers
from .experiment import export_experiment, load_experiment_responses
from .observers import ATTRIBUTES, attribute_triplets, simulate_judgements
from .behavioural_alignment import BehaviouralAlignment
from .two_afc_triplets import two_afc_triplets

__all__ = [
    "generate_triplets", "candidate_pool", "TRIPLET_COLUMNS",
    "load_things_triplets", "odd_one_out_accuracy", "OddOneOutResult", "ThingsTriplets", "ObjectOrderWarning",
    "export_experiment", "load_experiment_responses", "simulate_observers", "fit_choice_model",
    "attribute_triplets", "simulate_judgements", "ATTRIBUTES", "BehaviouralAlignment",
    "two_afc_triplets",
]
