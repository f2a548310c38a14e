"""A GNU ld script that puts the firmware's buffers in the board's named RAM regions.

The budget (boards.budget) places the tensor arena, the front-end state and the stack + heap
reserve in regions of boards.yaml; this script places them the same way — the arena in section
`.bss.ser_arena`, the front end in `.bss.ser_frontend` (as the templates' main.cc declares them),
everything else and the stack + heap in the reserve's region — and fails the link naming the
region that overflows. `qemu=True` keeps the regions' sizes but moves them into the RAM of QEMU's
mps2-an386 (code at 0, RAM at 0x20000000), so the verify command links the board's layout.
The symbols are those of firmware_export/mps2_an386/startup.c, with the names of ST's and Arm's
startup files as aliases; the placed buffers are not zeroed by those (the firmware resets them).
"""
from __future__ import annotations

from firmware_export.render import render

QEMU_FLASH = 0x00000000
QEMU_RAM = 0x20000000
QEMU_RAM_BYTES = 4 << 20
SECTIONS = {"arena": ".bss.ser_arena", "frontend": ".bss.ser_frontend"}


def qemu_regions(regions: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """The same regions, one after another (64 KB aligned) in mps2-an386's RAM."""
    moved, origin = [], QEMU_RAM
    for name, _, size in regions:
        moved.append((name, origin, size))
        origin += (size + 0xFFFF) & ~0xFFFF
    if origin - QEMU_RAM > QEMU_RAM_BYTES:
        raise ValueError("the board's RAM regions exceed mps2-an386's 4 MB")
    return moved


def linker_script(flash_bytes: int, regions: list[tuple[str, int, int]], placement: dict[str, str],
                  reserve_bytes: int, qemu: bool = False, flash_origin: int = 0) -> str:
    """`regions`: (name, origin, bytes); `placement`: arena / frontend / reserve → region name;
    `reserve_bytes`: what the reserve's region must still hold after the placed buffers (the
    firmware's other static data, heap and stack)."""
    names = [name for name, _, _ in regions]
    for buffer, region in placement.items():
        if region not in names:
            raise ValueError(f"placement of {buffer}: no RAM region {region!r} (regions: {', '.join(names)})")
    if qemu:
        regions, flash_origin = qemu_regions(regions), QEMU_FLASH
    main = placement["reserve"]
    memory = [f"  FLASH (rx) : ORIGIN = {flash_origin:#010x}, LENGTH = {flash_bytes}"]
    memory += [f"  {name} (rwx) : ORIGIN = {origin:#010x}, LENGTH = {size}" for name, origin, size in regions]
    placed = []
    for buffer, section in SECTIONS.items():
        region = placement[buffer]
        placed.append(f"  .ser_{buffer} (NOLOAD) : ALIGN(16) {{ __ser_{buffer}_start__ = .; *({section}) "
                      f". = ALIGN(4); __ser_{buffer}_end__ = .; }} > {region}")
    zero = "\n".join(f"    LONG(__ser_{b}_start__) LONG(__ser_{b}_end__)" for b in SECTIONS)
    return render("bundle/ser_memory.ld.in", memory="\n".join(memory), zero=zero, placed="\n".join(placed),
                  main=main, reserve_bytes=reserve_bytes)
