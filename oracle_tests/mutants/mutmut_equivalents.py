"""mutmut mutants of reference/ that no test can kill, each with the reason.

Keyed by mutmut's mutant name. mutmut numbers the mutations of each function, so a
key holds for one version of that function: the core-module keys for commit 4d4919f,
the training/checkpoint keys for commit 4007d9d. Functions changed since keep their
keys only where every change comes after the keyed mutant (train). Rewritten
functions lose their keys, and a new run lists those mutants again:
SeedCNN._tile_parameters, pool._tiled_forward (offset-major slabs) and Adam.step
(scaled moments).
mutmut_score.py lists keys absent from a run as `equivalents_not_in_this_run`.
SURVIVORS.md explains the groups.
"""

_FAST_PATH_ONLY = (
    "only decides whether Adam takes the flat fast path; both paths give identical "
    "parameters and moments (test_adam_over_one_tiled_buffer_matches_adam_over_separate_arrays)"
)
_COPY_FLAG = "astype's copy flag only decides whether a copy is made; train() never writes x"
_INPUT_GRAD = "also computes the image gradient, which train() discards; weights are identical"
_PROGRESS = "progress bar display only (off unless progress=True, and off on a non-terminal)"
_TEMP_NAME = "name of a temp file that is always renamed or removed"
_MISSING_OK = "missing_ok matters only if the temp file vanished while a write was failing"
_SEED_OVERWRITTEN = "seed of a model whose every parameter is then overwritten (or only shaped)"
_CHUNK = "default chunk size of a chunked loop; chunking does not change the result"

EQUIVALENT: dict[str, str] = {
    # --- core modules (layers, loss, optim, model), the 200-mutant sample at 4d4919f ---
    "reference.layers.pool.x__windows_forward__mutmut_16": (
        "writeable=None on an internal read-only window view that nothing writes through"
    ),
    "reference.layers.pool.x__windows_forward__mutmut_92": (
        "cache tag 'WINDOWS': backward only tests for 'tiled', any other tag takes the "
        "windows path, which is the right one"
    ),
    "reference.layers.pool.x_maxpool2d_backward__mutmut_15": (
        "s > k instead of s >= k: at s == k windows do not overlap, and np.add.at gives "
        "the same gradient as the assignment it replaces"
    ),
    "reference.model.xǁSeedCNNǁpredict__mutmut_1": _CHUNK,
    "reference.optim.x__tiled_buffer__mutmut_13": (
        "np.issubdtype(None, np.floating) is True, as for every float buffer; SeedCNN "
        "has no integer parameters. " + _FAST_PATH_ONLY
    ),
    "reference.optim.x__tiled_buffer__mutmut_27": _FAST_PATH_ONLY,
    "reference.optim.x__tiled_buffer__mutmut_29": _FAST_PATH_ONLY,
    "reference.optim.x__tiled_buffer__mutmut_8": _FAST_PATH_ONLY,
    "reference.optim.x__tiled_buffer__mutmut_4": (
        "params[1].base is params[0].base whenever the parameters tile one buffer, and "
        "the per-parameter check rejects every other case either way"
    ),
    # --- training.py and checkpoint.py, complete run at 4007d9d ---
    "reference.training.x_shuffle_rng__mutmut_2": (
        "default_rng([seed, 2]): another fixed stream independent of the initialiser's, "
        "which is all the contract asks; no result may depend on which one"
    ),
    "reference.training.x_evaluate__mutmut_1": _CHUNK,
    **{f"reference.training.x_train__mutmut_{i}": _COPY_FLAG for i in (7, 9, 10, 14, 16, 17)},
    **{f"reference.training.x_train__mutmut_{i}": _INPUT_GRAD for i in (89, 91, 92)},
    **{
        f"reference.training.x_train__mutmut_{i}": _PROGRESS
        for i in (58, 60, 63, 64, 65, 66, 68, 69, 71, 73, 95, 96, 97, 98, 99)
    },
    **{
        f"reference.checkpoint.x_staged_write__mutmut_{i}": _TEMP_NAME for i in (5, 6, 8, 9, 10, 11)
    },
    "reference.checkpoint.x_staged_write__mutmut_26": _MISSING_OK,
    "reference.checkpoint.x_staged_write__mutmut_28": _MISSING_OK,
    "reference.checkpoint.x_atomic_write__mutmut_10": _MISSING_OK,
    "reference.checkpoint.x_atomic_write__mutmut_11": _MISSING_OK,
    "reference.checkpoint.x__umask__mutmut_3": (
        "os.umask(1) returns the same previous mask as os.umask(0), and it is restored"
    ),
    **{
        f"reference.checkpoint.x_load_checkpoint__mutmut_{i}": _SEED_OVERWRITTEN
        for i in (16, 18, 20)
    },
    **{f"reference.checkpoint.x__check_params__mutmut_{i}": _SEED_OVERWRITTEN for i in (3, 4)},
    "reference.checkpoint.x__read_npz__mutmut_12": (
        "allow_pickle=None is falsy, the same as False"
    ),
    "reference.checkpoint.x__read_npz__mutmut_14": "np.load's default allow_pickle is False",
}
