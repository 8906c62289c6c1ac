#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs to fuzz/seeds/<target>/ (committed; rerun to
regenerate). Seeds are small valid files and near-misses of each format, generated here or
derived (a few lines, a prefix) from the repository's own files; nothing from the data set.

Needs Python 3 with Pillow (for the JPEG and PNG seeds).
"""

import io
import re
import sqlite3
import struct
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
BUNDLE = ROOT / "models" / "avdigits-fac-s3d"


def put(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def wav(rate, channels, bits, fmt, payload, declared=None):
    block = channels * bits // 8
    data_len = len(payload) if declared is None else declared
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, rate * block, block, bits)
    return (b"RIFF" + struct.pack("<I", min(0xFFFFFFFF, 4 + 8 + len(fmt_chunk) + 8 + data_len)) + b"WAVE"
            + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
            + b"data" + struct.pack("<I", data_len) + payload)


def seeds_wav():
    s16 = b"".join(struct.pack("<h", (i * 997) % 65536 - 32768) for i in range(400))
    put("wav", "pcm16-mono.wav", wav(16000, 1, 16, 1, s16))
    put("wav", "pcm16-stereo-44k.wav", wav(44100, 2, 16, 1, s16))
    f32 = b"".join(struct.pack("<f", (i % 50) / 50 - 0.5) for i in range(200))
    put("wav", "float-mono.wav", wav(48000, 1, 32, 3, f32))
    put("wav", "float-nan.wav", wav(16000, 1, 32, 3, f32[:40] + struct.pack("<f", float("nan"))))
    put("wav", "pcm8.wav", wav(8000, 1, 8, 1, bytes(range(100))))
    put("wav", "pcm24.wav", wav(16000, 1, 24, 1, bytes(300)))
    put("wav", "claims-4gb.wav", wav(16000, 1, 16, 1, s16[:64], declared=0xFFFFFFF0))
    put("wav", "truncated.wav", wav(16000, 1, 16, 1, s16)[:300])
    put("wav", "empty-data.wav", wav(16000, 1, 16, 1, b""))
    put("wav", "adpcm.wav", wav(16000, 1, 4, 2, bytes(64)))


def seeds_y4m():
    def y4m(w, h, colour, frames, extra=""):
        sizes = {"420jpeg": w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2),
                 "422": w * h + 2 * ((w + 1) // 2) * h, "444": 3 * w * h, "mono": w * h}
        head = f"YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C{colour}{extra}\n".encode()
        body = b"".join(b"FRAME\n" + bytes((i * 31 + j) % 256 for j in range(sizes[colour]))
                        for i in range(frames))
        return head + body
    put("y4m", "420-8x8.y4m", y4m(8, 8, "420jpeg", 2))
    put("y4m", "422-odd.y4m", y4m(7, 5, "422", 2))
    put("y4m", "444-full.y4m", y4m(4, 4, "444", 1, " XCOLORRANGE=FULL"))
    put("y4m", "mono.y4m", y4m(6, 2, "mono", 3))
    put("y4m", "truncated.y4m", y4m(8, 8, "420jpeg", 2)[:120])
    put("y4m", "huge.y4m", "YUV4MPEG2 W100000 H100000 F25:1\nFRAME\n")


def jpeg(size, quality=80, mode="RGB"):
    from PIL import Image
    img = Image.new(mode, size)
    img.putdata([((x * 37) % 256, (x * 11) % 256, 128)[: len(mode)] if mode != "L" else (x * 7) % 256
                 for x in range(size[0] * size[1])])
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def png(size, mode):
    from PIL import Image
    img = Image.new(mode, size, color=(200, 10, 30, 255)[: len(mode)] if mode != "L" else 90)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def seeds_mjpeg_image():
    a, b = jpeg((8, 8)), jpeg((16, 8), 30)
    put("mjpeg", "two-frames.mjpeg", a + b)
    put("mjpeg", "padding.mjpeg", b"\x00\x00" + a + b"\xff\xff" + a)
    put("mjpeg", "truncated.mjpeg", a + b[: len(b) // 2])
    put("mjpeg", "grey.mjpeg", jpeg((8, 8), mode="L"))
    put("image", "rgb.jpg", a)
    put("image", "grey.jpg", jpeg((5, 3), mode="L"))
    put("image", "rgb.png", png((4, 4), "RGB"))
    put("image", "rgba.png", png((3, 5), "RGBA"))
    put("image", "grey.png", png((2, 2), "L"))
    put("image", "truncated.png", png((4, 4), "RGB")[:40])


def seeds_raw():
    # 4 bytes (format, width, height, fps + 1), then frames: see fuzz/src/targets.rs.
    put("raw", "yuyv-4x2.raw", bytes([0, 4, 2, 26]) + bytes(range(64)))
    for f in range(6):
        put("raw", f"format{f}-6x4.raw", bytes([f, 6, 4, 11]) + bytes((i * 13) % 256 for i in range(200)))


def seeds_text():
    labels = (ROOT / "runtime" / "labels" / "avdigits.txt").read_text()
    put("labels", "avdigits.txt", labels)
    put("labels", "prompts.txt", "# comment\ndog | a dog barks | someone says dog\ncat|meow\n\n")
    put("labels", "duplicate.txt", "one\ntwo\none\n")
    put("labels", "empty-prompt.txt", "one | \n")
    for name, text in [("digits", "someone says seven"), ("unicode", "İstanbul naïve café don’t"),
                       ("long", "one two three " * 20), ("marks", "e\u0301 ''' a'b 'c d'")]:
        put("text", name + ".txt", text)
    vocab = (BUNDLE / "vocab.txt").read_text().splitlines()
    put("vocab", "head.txt", "\n".join(vocab[:40]) + "\n")
    put("vocab", "bom-crlf.txt", "\ufeff" + "\r\n".join(vocab[:10]) + "\r\n")
    put("vocab", "duplicate.txt", "<pad>\n<unk>\na\nb\na\n")


def seeds_manifest():
    for bundle in ["avdigits-fac-s3d", "avdigits-fac-tsm-robust"]:
        put("manifest", bundle + ".json", (ROOT / "models" / bundle / "manifest.json").read_text())
    put("manifest", "newer.json", '{"schema_version": 2}')
    put("config", "example.toml", (ROOT / "firmware-host" / "mmv-host.example.toml").read_text())
    put("config", "files.toml", '[bundle]\ndir = "b"\n[camera]\nsource = "y4m"\npath = "a.y4m"\n'
        '[microphone]\nsource = "wav"\npath = "a.wav"\n[index]\npath = "i.db"\n')


def seeds_onnx():
    # A prefix of a real network (the whole one is copied into the working corpus by
    # scripts/fuzz.sh): enough to reach the protobuf decoder's inner messages.
    data = (BUNDLE / "image.int8.onnx").read_bytes()
    put("onnx", "image-int8-prefix.onnx", data[:2048])
    put("onnx", "empty.onnx", b"")


def seeds_index():
    schema = (ROOT / "runtime" / "src" / "index" / "schema.rs").read_text()
    sql = re.search(r'r#"(.*?)"#', schema, re.S).group(1)
    with tempfile.TemporaryDirectory() as d:
        def db(name, statements):
            path = Path(d) / name
            conn = sqlite3.connect(path)
            conn.execute("PRAGMA page_size = 512")
            conn.executescript(statements)
            conn.commit()
            conn.close()
            put("index", name, path.read_bytes())
        db("mmv-v1.db", sql + "PRAGMA application_id = 1296914025; PRAGMA user_version = 1;"
           "INSERT INTO models VALUES (1, 'm', '1', 'fac');"
           "INSERT INTO files VALUES (1, 'ab', 1, 'a.wav', 10, 'wav', 1.0, 1.0, 'complete', 1, 1.0,"
           " 't', 't');"
           "INSERT INTO segments VALUES (1, 1, 0, 'audio', 0.0, 1.0, zeroblob(512), zeroblob(256), NULL);")
        db("foreign.db", "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi');")
        db("newer.db", sql + "PRAGMA application_id = 1296914025; PRAGMA user_version = 7;")
    put("index", "empty.db", b"")


def main():
    for f in [seeds_wav, seeds_y4m, seeds_mjpeg_image, seeds_raw, seeds_text, seeds_manifest,
              seeds_onnx, seeds_index]:
        f()
    total = sum(1 for _ in SEEDS.rglob("*") if _.is_file())
    print(f"{total} seeds under {SEEDS}", file=sys.stderr)


if __name__ == "__main__":
    main()
