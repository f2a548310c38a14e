"""The commands that build and run a bundle's real firmware: verify-firmware and profile-firmware."""
from __future__ import annotations

from pathlib import Path

from ser_reparam.cli.run_config import quiet_tensorflow, run_config
from ser_reparam.errors import BuildError, VerifyError


def cmd_verify_firmware(args) -> int:
    """Build a bundle's firmware against the real TFLite Micro (host or Cortex-M4 under QEMU), play
    test clips into it and check features, int8 logits and labels against the Python path."""
    quiet_tensorflow()
    from firmware_export.verify import check_target, summary, verify_firmware
    from ser_reparam.firmware_inputs import firmware_inputs

    config = run_config(args)
    check_target(args.board, args.target)  # before the run is read
    bundle, inputs = firmware_inputs(config, args.board, args.clips)
    report = verify_firmware(bundle, args.board, args.target, inputs, args.tflm_dir,
                             Path(args.work) if args.work else None, log=print)
    print(summary(report, args.board))
    print(f"verified: {args.board} firmware on {args.target} agrees with the Python path on "
          f"{len(report['clips'])} clips")
    return 0


def cmd_profile_firmware(args) -> int:
    """Run a bundle's firmware (Cortex-M4 under QEMU, or the host under callgrind) with a per-operator
    profiler: instructions, share, MACs and kernel per operator and per layer (per piece when streaming)."""
    quiet_tensorflow()
    from firmware_export.profile import profile_firmware, summary
    from firmware_export.verify import check_target
    from ser_reparam.firmware_inputs import firmware_inputs, layer_names

    config = run_config(args)
    check_target(args.board, args.target)
    bundle, inputs = firmware_inputs(config, args.board, args.clips)
    try:
        report = profile_firmware(bundle, args.board, args.target, inputs, layer_names(config, inputs.blobs),
                                  args.tflm_dir, Path(args.work) if args.work else None, log=print)
    except (BuildError, VerifyError, ValueError) as error:
        raise SystemExit(f"profile-firmware: {error}") from None
    print(summary(report, nodes=args.nodes))
    return 0
