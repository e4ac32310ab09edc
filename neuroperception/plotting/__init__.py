"""Figures shared by the whole package (a leaf: it imports nothing else of the package but errors).

Examples
--------
>>> import numpy as np
>>> from neuroperception.plotting import plot_rdm
>>> fig = plot_rdm(np.zeros((3, 3)), labels=["a", "b", "c"])
"""

from .figures import plot_feature_pca, plot_image_grid, plot_rdm, plot_rdms, save_figure
from .report import Report, Section

__all__ = ["plot_image_grid", "plot_rdm", "plot_rdms", "plot_feature_pca", "save_figure", "Report", "Section"]
