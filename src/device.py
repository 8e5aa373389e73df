"""Execution context: device and GRAPH/PyNative mode."""
import mindspore as ms

DEVICE_TARGETS = ("CPU", "GPU", "Ascend")


def set_context(device_target="CPU", device_id=0, pynative=False):
    """Select the device and execution mode once, before any network runs (on CPU: operators launched
    synchronously).

    Raises ValueError (one line) for an unknown target or one this installation cannot use.
    """
    if device_target not in DEVICE_TARGETS:
        raise ValueError(f"device_target must be one of {DEVICE_TARGETS}, got '{device_target}'")
    ms.set_context(mode=ms.PYNATIVE_MODE if pynative else ms.GRAPH_MODE)
    if device_target == "CPU":
        # MindSpore 2.10 hands each CPU operator to launch threads: PyNative ran 4x (a tiny network's forward) to
        # 12x (the stereo loss) slower than launching in the caller's thread, GRAPH mode the same either way.
        # Takes effect only if called before the first operator runs.
        ms.runtime.launch_blocking()
        if ms.get_context("device_target") == "CPU":
            return  # already the device; set_device is refused once the runtime has started (e.g. a second call)
    try:
        ms.set_device(device_target, None if device_target == "CPU" else device_id)
    except RuntimeError as err:  # MindSpore's message for a device this installation cannot use
        reason = str(err).strip().split(". ")[0]
        raise ValueError(f"--device_target {device_target} is not usable here ({reason})") from err


def context_from_config(config):
    """:func:`set_context` with the config's ``device_target``, ``device_id`` and ``pynative``."""
    set_context(config.device_target, config.device_id, config.pynative)
