"""Classical ML on entity lists with numpy / scikit-learn: PCA and k-means."""

from __future__ import annotations

from .kmeans import plugin as kmeans_plugin
from .pca import plugin as pca_plugin

plugins = (pca_plugin, kmeans_plugin)
