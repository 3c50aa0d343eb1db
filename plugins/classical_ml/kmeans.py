"""kmeans: k-means clustering of an entity list (scikit-learn)."""

from __future__ import annotations

from collections import Counter

from qhana.sdk import DataSpec, Plugin, PluginInput, PluginType, SyncTaskContext, field

from .common import ENTITY_INPUT, ENTITY_TYPES, REQUIREMENTS, read_matrix, scatter, to_csv


class KMeansInput(PluginInput):
    entity_points_url: str = field(
        title="Entity points",
        description="URL of the entities (CSV or JSON with numeric attributes).",
        input_type="data",
        data_input_type="entity/vector",
        data_content_types=ENTITY_TYPES,
    )
    clusters: int = field(3, title="Clusters", description="Number of clusters k.", ge=1, le=100)
    seed: int = field(0, title="Seed", description="Random seed of the initialisation.")


def run(ctx: SyncTaskContext, params: KMeansInput) -> str:
    from sklearn.cluster import KMeans  # heavy: imported on first use, not at worker start

    ids, _, matrix = read_matrix(ctx, params.entity_points_url)
    if params.clusters > len(ids):
        raise ValueError(f"{params.clusters} clusters for only {len(ids)} entities")
    model = KMeans(n_clusters=params.clusters, n_init=10, random_state=params.seed)
    labels = [int(v) for v in model.fit_predict(matrix)]
    ctx.progress(50)
    ctx.write_output(
        "clusters.csv",
        to_csv(ids, ["cluster"], [[label] for label in labels]),
        data_type="entity/label",
        content_type="text/csv",
    )
    svg = scatter(matrix, labels, f"k-means, k={params.clusters}", "svg")
    ctx.write_output(
        "clusters.svg", svg, data_type="image/cluster-plot", content_type="image/svg+xml"
    )
    sizes = ", ".join(f"{k}: {n}" for k, n in sorted(Counter(labels).items()))
    return f"k-means with k={params.clusters}: cluster sizes {sizes}"


plugin = Plugin(
    name="sklearn-kmeans",
    version="v0.1.0",
    title="k-means (scikit-learn)",
    description="Clusters entities by their numeric attributes with k-means.",
    type=PluginType.PROCESSING,
    tags=("clustering", "classical-ml"),
    input_model=KMeansInput,
    handler=run,
    requirements=REQUIREMENTS,
    data_input=(ENTITY_INPUT,),
    data_output=(
        DataSpec(data_type="entity/label", content_type=["text/csv"], name="clusters.csv"),
        DataSpec(
            data_type="image/cluster-plot", content_type=["image/svg+xml"], name="clusters.svg"
        ),
    ),
)
