"""pca: principal component analysis of an entity list (scikit-learn)."""

from __future__ import annotations

from qhana.sdk import DataSpec, Plugin, PluginInput, PluginType, SyncTaskContext, field

from .common import ENTITY_INPUT, ENTITY_TYPES, REQUIREMENTS, read_matrix, scatter, to_csv


class PcaInput(PluginInput):
    entity_points_url: str = field(
        title="Entity points",
        description="URL of the entities (CSV or JSON with numeric attributes).",
        input_type="data",
        data_input_type="entity/vector",
        data_content_types=ENTITY_TYPES,
    )
    dimensions: int = field(2, title="Dimensions", description="Components to keep.", ge=1, le=50)


def run(ctx: SyncTaskContext, params: PcaInput) -> str:
    from sklearn.decomposition import PCA  # heavy: imported on first use, not at worker start

    ids, columns, matrix = read_matrix(ctx, params.entity_points_url)
    dims = min(params.dimensions, matrix.shape[0], matrix.shape[1])
    model = PCA(n_components=dims)
    reduced = model.fit_transform(matrix)
    ctx.progress(50)
    header = [f"pc{i}" for i in range(dims)]
    rows = [[round(float(v), 6) for v in row] for row in reduced]
    ctx.write_output(
        "pca.csv", to_csv(ids, header, rows), data_type="entity/vector", content_type="text/csv"
    )
    png = scatter(reduced, None, "PCA", "png")
    ctx.write_output("pca.png", png, data_type="image/pca-plot", content_type="image/png")
    ratios = ", ".join(f"{r:.3f}" for r in model.explained_variance_ratio_)
    return f"PCA of {len(ids)} entities ({len(columns)} attributes): explained variance {ratios}"


plugin = Plugin(
    name="sklearn-pca",
    version="v0.1.0",
    title="PCA (scikit-learn)",
    description="Reduces the numeric attributes of entities to their principal components.",
    type=PluginType.PROCESSING,
    tags=("dimension-reduction", "classical-ml"),
    input_model=PcaInput,
    handler=run,
    requirements=REQUIREMENTS,
    data_input=(ENTITY_INPUT,),
    data_output=(
        DataSpec(data_type="entity/vector", content_type=["text/csv"], name="pca.csv"),
        DataSpec(data_type="image/pca-plot", content_type=["image/png"], name="pca.png"),
    ),
)
