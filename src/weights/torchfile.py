"""Placeholder replaced by the torch-free reader."""
class TorchFileError(ValueError):
    pass
def read_torch_file(path):
    import torch
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise TorchFileError(f"{path}: cannot read PyTorch checkpoint ({err})") from err
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj:
        raise TorchFileError(f"{path}: not a PyTorch state dict (got {type(obj).__name__})")
    return {k: v.detach().cpu().numpy() for k, v in obj.items() if hasattr(v, "detach")}
