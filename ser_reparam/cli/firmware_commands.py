"""The commands that build and run a bundle's real firmware: verify-firmware and profile-firmware."""
from __future__ import annotations

from pathlib import Path

from ser_reparam.cli.run_config import quiet_tensorflow, run_config
from ser_reparam.errors import BuildError, VerifyError


def _checked_inputs(args, config=None):
    """The bundle and its firmware inputs, after what can be said without reading the run's files:
    the target's tools, the board, that the bundle exists and the TFLM tree (one-line errors)."""
    from firmware_export.tflm_build import find_tree
    from firmware_export.verify import check_target
    from ser_reparam.firmware_inputs import bundle_dir, firmware_inputs

    config = config or run_config(args)
    target, _ = check_target(args.board, args.target)
    bundle_dir(config, args.board)
    find_tree(target, args.tflm_dir)
    return firmware_inputs(config, args.board, args.clips)


def cmd_verify_firmware(args) -> int:
    """Build a bundle's firmware against the real TFLite Micro (host or Cortex-M4 under QEMU), play
    test clips into it and check features, int8 logits and labels against the Python path."""
    quiet_tensorflow()
    from firmware_export.verify import summary, verify_firmware

    bundle, inputs = _checked_inputs(args)
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
    from ser_reparam.firmware_inputs import layer_names

    config = run_config(args)
    bundle, inputs = _checked_inputs(args, config)
    try:
        report = profile_firmware(bundle, args.board, args.target, inputs, layer_names(config, inputs.blobs),
                                  args.tflm_dir, Path(args.work) if args.work else None, log=print)
    except (BuildError, VerifyError, ValueError) as error:
        raise SystemExit(f"profile-firmware: {error}") from None
    print(summary(report, nodes=args.nodes))
    return 0
