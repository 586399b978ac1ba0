"""System metrics of a training run, sampled off the training thread (issue 20).

    record      `SystemSample` / `GpuSample`: one sample, and its JSON line (the format of
                ``system.jsonl``, read back by `engine.runs.system_log`)
    nvml        `NvmlReader`: the GPUs a run uses, through NVIDIA's management library
                (``nvidia-ml-py``, imported as ``pynvml`` only when a run is on CUDA)
    host        `HostReader`: the CPU % and RSS of the run's processes on this machine (every local
                rank of a data-parallel run) with their DataLoader workers, host RAM,
                free disk under the runs folder (``psutil``)
    data_wait   `DataWaitMeter`: the share of step time the training loop waited for its next batch
    sampler     `SystemSampler`: the thread that samples every ~2 s and appends to the run folder

No torch import anywhere here; ``pynvml`` and ``psutil`` are imported by the readers that use them.
"""
