"""M3ED (Multi-modal Multi-scene Multi-label Emotional Dialogue database, ACL 2022): 7 classes,
official split.

Supported layout of the release, under the data root:

  annotation.json                          {movie: {dialog id: {"SpeakerInfo": {"A": {"Name", ...}, "B": ...},
                                            "Dialog": {utterance id: {"StartTime": "00:00:00:01",
                                            "EndTime": "00:00:01:04", "Text", "Speaker": "A",
                                            "EmoAnnotation": {..., "final_main_emo": "Neutral"}}}}}}
  splitInfo/movie_list_{train,val,test}.txt  one movie (TV series) name per line
  modality_speech/<Speaker>_<utterance id>.wav   the released utterance audio, e.g. A_anjia_1_1.wav
  <movie>/<dialog id>.mp4                  or, without the utterance audio, the dialog video
                                            (e.g. anjia/anjia_1.mp4): its audio track is extracted
                                            once (ffmpeg) and each utterance is a start/end clip

The label is EmoAnnotation.final_main_emo; every utterance of a movie goes to that movie's
split; speaker = movie + the speaker's name from SpeakerInfo (a character of one TV series).
Timecodes are HH:MM:SS:FF with FF in 25 fps frames (40 ms), relative to the dialog video; the
release's utterance audio was cut 50 ms after them, and so are the clips here.

Where these facts come from (public sources read while writing this module):
- the paper (ACL 2022, 2022.acl-long.391): 990 dialogues from 56 TV series, 24,449
  utterances, the 7 classes;
- the authors' repository AIM3-RUC/RUCM3ED: splitInfo/movie_list_{train,val,test,total}.txt;
- the authors' preprocessing repository JinmingZhao/MEmoConv: preprocess/cut_dialog.py (one
  video per dialog), preprocess/cut_audio_segments.py (HH:MM:SS:FF with 40 ms frames, audio cut
  at start + 50 ms to end + 50 ms, files named <Speaker>_<utterance id>.wav);
- several public loaders of the release: the annotation.json schema above, the
  modality_speech/ folder, and dialog videos at <movie>/<dialog id>.mp4 beside annotation.json.
"""
from __future__ import annotations

import json
import re

from ser_reparam.errors import InputError, MissingInputError

from .collect import MISSING, Collector

LAYOUT = ("M3ED: annotation.json, splitInfo/movie_list_{train,val,test}.txt and, per utterance, "
          "modality_speech/<Speaker>_<utterance id>.wav or, per dialog, <movie>/<dialog id>.mp4")
TIMECODE = re.compile(r"^(\d+):(\d{2}):(\d{2}):(\d{2})$")
NO_SPLIT = "movie not in any split list"
BAD_TIMECODE = "unusable timecode (HH:MM:SS:FF, end after start)"


def build(col: Collector) -> None:
    movie_split = _movie_splits(col)
    annotation = col.root / "annotation.json"
    if not annotation.is_file():
        raise MissingInputError(f"{annotation} is missing; expected {LAYOUT}")
    try:
        movies = json.loads(annotation.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"{annotation} is not valid JSON ({err}); expected the M3ED release file") from None
    for movie, dialogs in movies.items():
        for dialog_id, dialog in dialogs.items():
            try:
                names = {key: info.get("Name") for key, info in dialog.get("SpeakerInfo", {}).items()}
                for utt_id, utt in dialog["Dialog"].items():
                    _add_utterance(col, movie, movie_split.get(movie), dialog_id, utt_id, utt, names)
            except (KeyError, TypeError, AttributeError) as err:
                raise InputError(f"{annotation}: dialog {dialog_id} does not follow the M3ED schema "
                                 f"({type(err).__name__}: {err}); expected {LAYOUT}") from None


def _movie_splits(col: Collector) -> dict[str, str]:
    movie_split: dict[str, str] = {}
    for split, rel in col.protocol.split["files"].items():
        path = col.root / rel
        if not path.is_file():
            raise MissingInputError(f"M3ED split list {path} is missing; expected {LAYOUT}")
        for movie in path.read_text(encoding="utf-8").split():
            other = movie_split.setdefault(movie, split)
            if other != split:
                raise InputError(f"{path}: movie {movie!r} is also in the {other} list; "
                                 f"a movie belongs to exactly one split")
    return movie_split


def _add_utterance(col: Collector, movie: str, split: str | None, dialog_id: str, utt_id: str,
                   utt: dict, names: dict) -> None:
    audio = col.protocol.details["audio"]
    speech = f"{audio['speech_dir']}/{utt['Speaker']}_{utt_id}.wav"
    if split is None:
        col.report.exclude(NO_SPLIT, speech)
        return
    label = col.label(utt["EmoAnnotation"]["final_main_emo"], speech)
    if label is None:
        return
    speaker = f"{movie}_{names.get(utt['Speaker']) or dialog_id + '_' + utt['Speaker']}"
    video = f"{movie}/{dialog_id}{audio['video_suffix']}"
    if (col.root / speech).exists():
        col.add(utt_id, speech, label, split, speaker)
    elif (col.root / video).exists():
        span = _span(utt, col.protocol.details["timecode"])
        if span is None:
            col.report.exclude(BAD_TIMECODE, f"{utt_id} ({utt.get('StartTime')} - {utt.get('EndTime')})")
        else:
            col.add(utt_id, video, label, split, speaker, *span)
    else:
        col.report.exclude(MISSING, f"{speech} (no dialog video {video} either)")


def _span(utt: dict, timecode: dict) -> tuple[float, float] | None:
    """(start, end) seconds in the dialog's audio, or None for a malformed or empty span."""
    start, end = (_seconds(str(utt.get(key, "")), timecode["fps"]) for key in ("StartTime", "EndTime"))
    if start is None or end is None or end <= start:
        return None
    return start + timecode["offset_seconds"], end + timecode["offset_seconds"]


def _seconds(code: str, fps: float) -> float | None:
    match = TIMECODE.match(code.strip())
    if match is None:
        return None
    hours, minutes, seconds, frames = (int(part) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds + frames / fps
