"""Item feature matrices from a catalogue: blocks, alignment, missing items, the TF-IDF fallback, errors."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from graphrec.data.features import FeatureConfig, build_item_features, multi_hot, tfidf_svd, with_log_degree
from graphrec.errors import DataError


@pytest.fixture
def catalogue(tmp_path: Path) -> FeatureConfig:
    (tmp_path / "movies.csv").write_text(
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children\n"
        "2,Heat (1995),Action|Crime|Thriller\n"
        "3,Toy Story 2 (1999),Adventure|Animation\n"
        "4,Untitled,(no genres listed)\n"
    )
    (tmp_path / "tags.csv").write_text("userId,movieId,tag,timestamp\n1,2,heist,1\n2,2,heist,2\n3,1,pixar,3\n")
    return FeatureConfig(
        catalogue=str(tmp_path / "movies.csv"), tags=str(tmp_path / "tags.csv"), text_encoder="tfidf", text_dim=3
    )


def test_blocks_are_aligned_with_the_requested_ids(catalogue: FeatureConfig) -> None:
    features = build_item_features(catalogue, ["3", "1", "99", "2"])
    assert list(features.blocks) == ["text", "genres", "title_number"]
    assert features.missing.tolist() == [False, False, True, False]
    start, end = features.blocks["genres"]
    genres = features.matrix[:, start:end]
    # labels sorted: (no genres listed), Action, Adventure, Animation, Children, Crime, Thriller
    assert genres[0].tolist() == [0, 0, 1, 1, 0, 0, 0]
    assert genres[2].sum() == 0  # missing item: zeros
    year, missing_flag = features.matrix[:, features.blocks["title_number"][0]], features.matrix[:, -1]
    assert year[0] > year[1]  # 1999 standardises above 1995
    assert missing_flag.tolist() == [0, 0, 0, 0]  # the unknown item's row is zeroed, flag included
    text = features.matrix[:, slice(*features.blocks["text"])]
    assert float(text[0] @ text[1]) > float(text[0] @ text[3])  # "Toy Story 2" nearer "Toy Story" than "Heat"


def test_log_degree_is_the_last_column(catalogue: FeatureConfig) -> None:
    features = with_log_degree(build_item_features(catalogue, ["1", "2"]), np.array([0, 9]))
    np.testing.assert_allclose(features.matrix[:, -1], [0.0, np.log(10.0)], rtol=1e-6)
    assert features.blocks["log_degree"] == (features.matrix.shape[1] - 1, features.matrix.shape[1])


def test_multi_hot_and_tfidf_are_plain() -> None:
    import pandas as pd

    assert multi_hot(pd.Series(["a|b", "", "b"]), "|").tolist() == [[1, 1], [0, 0], [0, 1]]
    vectors = tfidf_svd(["red apple", "green apple", "blue sky"], dim=4, seed=0)
    assert vectors.shape == (3, 4)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_errors_name_the_problem_and_the_fix(catalogue: FeatureConfig, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"none of the 2 items is in the catalogue.*features\.item_col"):
        build_item_features(catalogue, ["x", "y"])
    bad = FeatureConfig(catalogue=catalogue.catalogue, categorical_cols=["genre"], text_encoder="tfidf")
    with pytest.raises(DataError, match=r"missing column\(s\) \['genre'\]"):
        build_item_features(bad, ["1"])
    with pytest.raises(DataError, match="does not exist"):
        build_item_features(FeatureConfig(catalogue=str(tmp_path / "nope.csv")), ["1"])


def _vector_files(tmp_path: Path, matrix: np.ndarray, ids: object) -> dict[str, str]:
    np.save(tmp_path / "vectors.npy", matrix)
    (tmp_path / "vector_ids.json").write_text(json.dumps(ids))
    return {"vectors": str(tmp_path / "vectors.npy"), "vector_ids": str(tmp_path / "vector_ids.json")}


def test_precomputed_vectors_are_one_more_block_aligned_by_id(catalogue: FeatureConfig, tmp_path: Path) -> None:
    matrix = np.array([[0.5, -1.0], [2.0, 3.0]], dtype=np.float32)  # items 3 and 1; items 2 and 4 have none
    config = dataclasses.replace(catalogue, **_vector_files(tmp_path, matrix, [3, "1"]))
    features = build_item_features(config, ["3", "1", "99", "2"])
    assert list(features.blocks) == ["text", "genres", "title_number", "vectors"]
    vectors = features.matrix[:, slice(*features.blocks["vectors"])]
    assert vectors.tolist() == [[0.5, -1.0], [2.0, 3.0], [0.0, 0.0], [0.0, 0.0]]  # as given; zeros without a row


@pytest.mark.parametrize(
    ("matrix", "ids", "message"),
    [
        (np.ones((2, 3)), ["1"], "vector_ids.json: expected a JSON list of 2 item ids (one per row), got 1 ids"),
        (np.array([[1.0, np.nan]]), ["2"], "vectors.npy: row 0 (item '2') has a NaN or infinite value"),
        (np.ones((1, 2)), ["77"], "vector_ids.json: 1 id(s) are not items of the catalogue (first: ['77'])"),
        (np.ones((2, 2)), ["1", 1], "vector_ids.json: item ids repeat"),
        (np.ones(3), ["1", "2", "3"], "vectors.npy: expected a 2-D numeric (items × D) matrix, got float64 (3,)"),
    ],
)
def test_precomputed_vectors_are_checked(
    catalogue: FeatureConfig, tmp_path: Path, matrix: np.ndarray, ids: list, message: str
) -> None:
    config = dataclasses.replace(catalogue, **_vector_files(tmp_path, matrix, ids))
    with pytest.raises(DataError, match=re.escape(message)):
        build_item_features(config, ["1", "2"])


def test_vectors_need_their_ids() -> None:
    from graphrec.errors import ConfigError

    with pytest.raises(ConfigError, match=r"features\.vector_ids"):
        FeatureConfig(vectors="v.npy").validate()


def _parquet_catalogue(tmp_path: Path, vectors: list) -> FeatureConfig:
    import pandas as pd

    frame = pd.DataFrame({"movieId": [1, 2, 3], "genres": ["A|B", "B", "C"], "image": vectors})
    frame.to_parquet(tmp_path / "items.parquet")
    return FeatureConfig(
        catalogue=str(tmp_path / "items.parquet"),
        text_cols=[],
        extract_numeric={},
        categorical_cols=["genres"],
        vector_col="image",
    )


def test_a_parquet_list_column_is_the_vectors_block(tmp_path: Path) -> None:
    config = _parquet_catalogue(tmp_path, [[1.0, 2.0], [0.0, -1.5], [3.0, 0.25]])
    features = build_item_features(config, ["3", "1", "9"])
    assert list(features.blocks) == ["genres", "vectors"]
    assert features.matrix[:, slice(*features.blocks["vectors"])].tolist() == [[3.0, 0.25], [1.0, 2.0], [0.0, 0.0]]
    assert features.matrix[1, slice(*features.blocks["genres"])].tolist() == [1.0, 1.0, 0.0]  # ids read as strings


@pytest.mark.parametrize(
    ("vectors", "message"),
    [
        ([[1.0, 2.0], [1.0], [0.0, 0.0]], "features.vector_col 'image': item '2' has 1 values, expected a list of 2"),
        ([[1.0, 2.0], None, [0.0, 0.0]], "features.vector_col 'image': item '2' has no list"),
        ([[1.0, 2.0], [1.0, float("inf")], [0.0, 0.0]], "item '2' has a NaN or infinite value"),
    ],
)
def test_a_parquet_list_column_is_checked(tmp_path: Path, vectors: list, message: str) -> None:
    with pytest.raises(DataError, match=re.escape(message)):
        build_item_features(_parquet_catalogue(tmp_path, vectors), ["1"])


def test_a_vector_column_needs_a_parquet_catalogue_and_excludes_the_npy_block(catalogue: FeatureConfig) -> None:
    from graphrec.errors import ConfigError

    config = dataclasses.replace(catalogue, vector_col="image")
    with pytest.raises(DataError, match=r"features\.vector_col: expected a Parquet catalogue .* got movies\.csv"):
        build_item_features(config, ["1"])
    with pytest.raises(ConfigError, match=r"^features\.vector_col: expected unset while features\.vectors is set"):
        FeatureConfig(vector_col="image", vectors="v.npy", vector_ids="v.json").validate()
