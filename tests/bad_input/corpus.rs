//! The bad-input corpus generator: writes each bad file (and the good ones they are variants
//! of) under a directory, and says how to run each case and what its error must say.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Which binary a case runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Mmv = 0,
    Host = 1,
}

/// One bad input and its expected failure.
#[derive(Debug)]
pub struct Case {
    pub name: String,
    pub tool: Tool,
    pub args: Vec<String>,
    /// Words stderr must hold (case-insensitive): the file's name and the problem.
    pub expect: Vec<String>,
    /// Files that must be byte-for-byte the same after the run.
    pub unchanged: Vec<PathBuf>,
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn wav(path: &Path, rate: u32, channels: u16, float: bool, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: if float { 32 } else { 16 },
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &x in samples {
        if float {
            w.write_sample(x).unwrap();
        } else {
            w.write_sample((x * 32767.0) as i16).unwrap();
        }
    }
    w.finalize().unwrap();
}

fn tone(rate: u32, seconds: f32) -> Vec<f32> {
    (0..(rate as f32 * seconds) as usize)
        .map(|i| 0.3 * (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin())
        .collect()
}

/// A 16-bit mono WAV header declaring `data_bytes` of samples, followed by `actual` bytes.
fn wav_header(rate: u32, data_bytes: u32, actual: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&data_bytes.saturating_add(36).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_bytes.to_le_bytes());
    b.resize(b.len() + actual, 0);
    b
}

/// A grey Y4M clip (4:2:0) of `frames` frames.
fn y4m(width: usize, height: usize, frames: usize) -> Vec<u8> {
    let mut b = format!("YUV4MPEG2 W{width} H{height} F5:1 Ip A1:1 C420jpeg\n").into_bytes();
    let len = width * height + 2 * (width.div_ceil(2) * height.div_ceil(2));
    for i in 0..frames {
        b.extend_from_slice(b"FRAME\n");
        b.extend(std::iter::repeat_n((i * 20 % 256) as u8, len));
    }
    b
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A PNG whose header declares `width` x `height` RGB pixels, with a token data chunk.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut b, b"IHDR", &ihdr);
    png_chunk(
        &mut b,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    png_chunk(&mut b, b"IEND", &[]);
    b
}

struct Cases(Vec<Case>);

impl Cases {
    fn add(
        &mut self,
        name: &str,
        tool: Tool,
        args: Vec<String>,
        expect: &[&str],
        unchanged: &[&Path],
    ) {
        self.0.push(Case {
            name: name.into(),
            tool,
            args,
            expect: expect.iter().map(|e| e.to_string()).collect(),
            unchanged: unchanged.iter().map(|p| p.to_path_buf()).collect(),
        });
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // The bundle proper: manifest, vocabulary and the fp32 networks (the default on x86).
        if name == "manifest.json" || name == "vocab.txt" || name.ends_with(".onnx") {
            std::fs::copy(entry.path(), to.join(&*name)).unwrap();
        }
    }
}

fn edit_manifest(bundle: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = bundle.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

fn sha256_hex(data: &[u8]) -> String {
    mmv_runtime::bundle::sha256_file(&{
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), data).unwrap();
        tmp.into_temp_path().keep().unwrap()
    })
    .unwrap()
}

/// Writes the corpus under `dir`; `bundle` is the real model bundle, `mmv` the binary (used to
/// build the good index the index cases start from).
pub fn generate(dir: &Path, bundle: &Path, mmv: &Path) -> Vec<Case> {
    let mut cs = Cases(Vec::new());
    let b = s(bundle);
    let media = dir.join("media");
    std::fs::create_dir_all(&media).unwrap();
    let m = |f: &str| media.join(f);

    // Good files, the bases of the variants.
    let good_wav = m("good.wav");
    wav(&good_wav, 16_000, 1, false, &tone(16_000, 2.0));
    let good_y4m = m("good.y4m");
    std::fs::write(&good_y4m, y4m(32, 32, 10)).unwrap();

    // Media through `mmv embed` (the real bundle), each name and problem in the message.
    let embed = |file: &Path| vec!["embed".into(), "--bundle".into(), b.clone(), s(file)];
    let media_case = |cs: &mut Cases, name: &str, bytes: &[u8], expect: &[&str]| {
        let path = media.join(name);
        std::fs::write(&path, bytes).unwrap();
        let mut want = vec![name];
        want.extend_from_slice(expect);
        cs.add(name, Tool::Mmv, embed(&path), &want, &[path.as_path()]);
    };

    // WAV
    let good = std::fs::read(&good_wav).unwrap();
    media_case(&mut cs, "empty.wav", b"", &["not a valid WAV"]);
    media_case(
        &mut cs,
        "text.wav",
        b"this is a text file, not audio\n",
        &["not a valid WAV"],
    );
    media_case(
        &mut cs,
        "truncated-header.wav",
        &good[..30],
        &["not a valid WAV"],
    );
    media_case(
        &mut cs,
        "truncated-data.wav",
        &good[..good.len() / 2],
        &["truncated"],
    );
    media_case(
        &mut cs,
        "claims-4gb.wav",
        &wav_header(16_000, u32::MAX - 65, 64), // even: whole 16-bit samples
        &["declares"],
    );
    media_case(
        &mut cs,
        "claims-1gb.wav",
        &wav_header(16_000, 1 << 30, 64),
        &["truncated"],
    );
    media_case(
        &mut cs,
        "header-only.wav",
        &wav_header(16_000, 0, 0),
        &["no audio samples"],
    );
    media_case(&mut cs, "rate-zero.wav", &wav_header(0, 64, 64), &["0 Hz"]);
    {
        let mut corrupt = good.clone();
        corrupt[8..12].copy_from_slice(b"AVI ");
        media_case(&mut cs, "not-wave.wav", &corrupt, &["not a valid WAV"]);
        let mut eight_bit = wav_header(16_000, 64, 64);
        eight_bit[28..32].copy_from_slice(&16_000u32.to_le_bytes()); // bytes per second
        eight_bit[32] = 1; // block align
        eight_bit[34] = 8; // bits per sample
        media_case(&mut cs, "8-bit.wav", &eight_bit, &["8-bit"]);
        let mut adpcm = wav_header(16_000, 64, 64);
        adpcm[20] = 2; // format tag: MS ADPCM
        media_case(&mut cs, "adpcm.wav", &adpcm, &["adpcm.wav"]);
    }
    for (name, bad) in [("nan.wav", f32::NAN), ("inf.wav", f32::INFINITY)] {
        let path = m(name);
        let mut samples = tone(16_000, 1.0);
        samples[8000] = bad;
        wav(&path, 16_000, 1, true, &samples);
        cs.add(name, Tool::Mmv, embed(&path), &[name, "non-finite"], &[]);
    }
    for (name, rate) in [("rate-1hz.wav", 1), ("rate-1mhz.wav", 1_000_000)] {
        let path = m(name);
        wav(&path, rate, 1, false, &tone(16_000, 0.5));
        cs.add(name, Tool::Mmv, embed(&path), &[name, "rate"], &[]);
    }

    // Y4M
    let good = std::fs::read(&good_y4m).unwrap();
    media_case(&mut cs, "empty.y4m", b"", &["empty file"]);
    media_case(
        &mut cs,
        "wav-as.y4m",
        &std::fs::read(&good_wav).unwrap(),
        &["YUV4MPEG2"],
    );
    media_case(
        &mut cs,
        "huge-frame.y4m",
        b"YUV4MPEG2 W100000 H100000 F25:1 C420jpeg\nFRAME\n",
        &["width and height"],
    );
    media_case(
        &mut cs,
        "many-pixels.y4m",
        b"YUV4MPEG2 W16384 H16384 F25:1 C444\nFRAME\n",
        &["pixels"],
    );
    media_case(
        &mut cs,
        "no-size.y4m",
        b"YUV4MPEG2 F25:1\nFRAME\n",
        &["width and height"],
    );
    media_case(
        &mut cs,
        "zero-fps.y4m",
        b"YUV4MPEG2 W32 H32 F0:1\n",
        &["frame rate"],
    );
    media_case(
        &mut cs,
        "10-bit.y4m",
        b"YUV4MPEG2 W32 H32 F5:1 C420p10\n",
        &["not supported"],
    );
    media_case(
        &mut cs,
        "truncated.y4m",
        &good[..good.len() - 700],
        &["truncated"],
    );
    {
        let mut corrupt = good.clone();
        let second_frame = good
            .windows(6)
            .enumerate()
            .filter(|(_, w)| *w == b"FRAME\n")
            .nth(1)
            .map(|(i, _)| i)
            .expect("the good Y4M has two frames");
        corrupt[second_frame..second_frame + 5].copy_from_slice(b"XXXXX");
        media_case(&mut cs, "corrupt-marker.y4m", &corrupt, &["FRAME"]);
        let endless = [b"YUV4MPEG2 W32 H32 F5:1 X".as_slice(), &vec![b'x'; 10_000]].concat();
        media_case(&mut cs, "endless-header.y4m", &endless, &["longer than"]);
    }

    // MJPEG and stills
    let jpeg = mmv_runtime::frames::encode_jpeg(&vec![128u8; 32 * 32 * 3], 32, 32, 90).unwrap();
    media_case(&mut cs, "empty.mjpeg", b"", &["empty file"]);
    media_case(
        &mut cs,
        "garbage.mjpeg",
        &vec![0x55; 4096],
        &["no JPEG start marker"],
    );
    media_case(
        &mut cs,
        "truncated.mjpeg",
        &[jpeg.clone(), jpeg[..jpeg.len() / 2].to_vec()].concat(),
        &["truncated"],
    );
    {
        let mut corrupt = jpeg.clone();
        for b in &mut corrupt[jpeg.len() / 2..jpeg.len() - 2] {
            *b = 0xFF;
        }
        media_case(
            &mut cs,
            "corrupt.mjpeg",
            // The corrupt image first: it is decoded (frames between the sampled ones are
            // only skipped, so corruption there costs nothing and is not an error).
            &[corrupt, jpeg.clone()].concat(),
            &["frame"],
        );
    }
    media_case(&mut cs, "empty.jpg", b"", &["empty.jpg"]);
    media_case(&mut cs, "truncated.jpg", &jpeg[..jpeg.len() / 3], &["JPEG"]);
    media_case(&mut cs, "png-as.jpg", &png_declaring(4, 4), &["png-as.jpg"]);
    media_case(
        &mut cs,
        "corrupt.png",
        b"\x89PNG\r\n\x1a\ngarbage garbage garbage",
        &["PNG"],
    );
    media_case(
        &mut cs,
        "huge.png",
        &png_declaring(100_000, 100_000),
        &["huge.png"],
    );
    media_case(&mut cs, "unknown.xyz", b"hello", &["unsupported file type"]);
    cs.add(
        "missing.wav",
        Tool::Mmv,
        embed(&m("missing.wav")),
        &["missing.wav", "cannot read"],
        &[],
    );

    // Label files through `mmv tag --labels`.
    let labels = dir.join("labels");
    std::fs::create_dir_all(&labels).unwrap();
    let label_case = |cs: &mut Cases, name: &str, text: Vec<u8>, expect: &[&str]| {
        let path = labels.join(name);
        std::fs::write(&path, text).unwrap();
        let mut want = vec![name];
        want.extend_from_slice(expect);
        let args = vec![
            "tag".into(),
            "--bundle".into(),
            b.clone(),
            "--labels".into(),
            s(&path),
            s(&good_wav),
        ];
        cs.add(name, Tool::Mmv, args, &want, &[path.as_path()]);
    };
    label_case(&mut cs, "empty.txt", Vec::new(), &["no labels"]);
    label_case(
        &mut cs,
        "comments.txt",
        b"# only a comment\n\n".to_vec(),
        &["no labels"],
    );
    label_case(
        &mut cs,
        "million-lines.txt",
        b"x\n".repeat(1_000_000),
        &["at most"],
    );
    label_case(
        &mut cs,
        "many-labels.txt",
        (0..60_000)
            .map(|i| format!("l{i}\n"))
            .collect::<String>()
            .into_bytes(),
        &["more than 10000 labels"],
    );
    label_case(
        &mut cs,
        "duplicate.txt",
        b"one\ntwo\none\n".to_vec(),
        &["line 3", "already defined"],
    );
    label_case(
        &mut cs,
        "empty-prompt.txt",
        b"one | \n".to_vec(),
        &["line 1", "empty"],
    );
    label_case(
        &mut cs,
        "binary.txt",
        vec![0xFF, 0xFE, 0x00, 0x80, 0x81],
        &["UTF-8"],
    );
    label_case(
        &mut cs,
        "long-prompt.txt",
        format!("one | {}\n", "word ".repeat(2000)).into_bytes(),
        &["line 1", "at most 4096"],
    );

    // Text queries.
    cs.add(
        "huge-text",
        Tool::Mmv,
        vec![
            "embed".into(),
            "--bundle".into(),
            b.clone(),
            "--text".into(),
            // 60 kB: far over the limit, under Linux's 128 kB for one argument.
            "seven ".repeat(10_000),
        ],
        &["60000 bytes", "at most 4096"],
        &[],
    );
    cs.add(
        "empty-text",
        Tool::Mmv,
        vec![
            "embed".into(),
            "--bundle".into(),
            b.clone(),
            "--text".into(),
            String::new(),
        ],
        &["text"],
        &[],
    );

    // Bundles, one file swapped, missing, truncated or lying (through `mmv embed`).
    let bundles = dir.join("bundles");
    let bundle_case = |cs: &mut Cases, name: &str, expect: &[&str], make: &dyn Fn(&Path)| {
        let path = bundles.join(name);
        copy_dir(bundle, &path);
        make(&path);
        let args = vec![
            "embed".into(),
            "--bundle".into(),
            s(&path),
            s(&good_wav),
            "--precision".into(),
            "fp32".into(),
        ];
        let mut want = vec![name];
        want.extend_from_slice(expect);
        cs.add(&format!("bundle {name}"), Tool::Mmv, args, &want, &[]);
    };
    bundle_case(&mut cs, "no-manifest", &["manifest.json"], &|p| {
        std::fs::remove_file(p.join("manifest.json")).unwrap()
    });
    bundle_case(
        &mut cs,
        "empty-manifest",
        &["manifest.json", "not valid JSON"],
        &|p| std::fs::write(p.join("manifest.json"), b"").unwrap(),
    );
    bundle_case(
        &mut cs,
        "truncated-manifest",
        &["manifest.json", "not valid JSON"],
        &|p| {
            let t = std::fs::read(p.join("manifest.json")).unwrap();
            std::fs::write(p.join("manifest.json"), &t[..t.len() / 2]).unwrap();
        },
    );
    bundle_case(&mut cs, "newer-manifest", &["schema version 99"], &|p| {
        edit_manifest(p, |m| m["schema_version"] = 99.into())
    });
    bundle_case(&mut cs, "huge-shape", &["larger than"], &|p| {
        edit_manifest(p, |m| {
            m["encoders"][0]["inputs"][0]["shape"] =
                serde_json::json!([1, 1, 1 << 20, 1 << 20, 1 << 20])
        })
    });
    bundle_case(&mut cs, "overflowing-shape", &["larger than"], &|p| {
        edit_manifest(p, |m| {
            m["encoders"][0]["inputs"][0]["shape"] = serde_json::json!([usize::MAX, 3])
        })
    });
    bundle_case(&mut cs, "huge-window", &["window"], &|p| {
        edit_manifest(p, |m| m["audio"]["window_samples"] = (1u64 << 40).into())
    });
    bundle_case(&mut cs, "huge-max-words", &["max_words"], &|p| {
        edit_manifest(p, |m| {
            m["text"]["tokenizer"]["max_words"] = (1u64 << 40).into()
        })
    });
    bundle_case(&mut cs, "wrong-type", &["not valid JSON"], &|p| {
        edit_manifest(p, |m| m["video"]["frames"] = "eight".into())
    });
    bundle_case(&mut cs, "missing-onnx", &["audio.fp32.onnx"], &|p| {
        std::fs::remove_file(p.join("audio.fp32.onnx")).unwrap()
    });
    bundle_case(&mut cs, "swapped-onnx", &["audio.fp32.onnx"], &|p| {
        std::fs::copy(p.join("image.fp32.onnx"), p.join("audio.fp32.onnx")).unwrap();
    });
    bundle_case(&mut cs, "missing-vocab", &["vocab.txt"], &|p| {
        std::fs::remove_file(p.join("vocab.txt")).unwrap()
    });
    bundle_case(&mut cs, "corrupt-vocab", &["vocab.txt"], &|p| {
        std::fs::write(p.join("vocab.txt"), b"hello\nworld\n").unwrap()
    });
    // A corrupt network whose checksum in the manifest was updated: the ONNX parser must say so.
    bundle_case(
        &mut cs,
        "corrupt-onnx-resigned",
        &["audio.fp32.onnx"],
        &|p| {
            let onnx = p.join("audio.fp32.onnx");
            let mut data = std::fs::read(&onnx).unwrap();
            data.truncate(data.len() / 2);
            std::fs::write(&onnx, &data).unwrap();
            let sha = sha256_hex(&data);
            edit_manifest(p, |m| {
                for e in m["encoders"].as_array_mut().unwrap() {
                    if e["file"] == "audio.fp32.onnx" {
                        e["sha256"] = sha.clone().into();
                        e["bytes"] = data.len().into();
                    }
                }
            });
        },
    );

    // Index files: another program's database, a newer schema, not a database at all; each
    // must be refused and left byte-for-byte as it was.
    let idx = dir.join("index");
    std::fs::create_dir_all(&idx).unwrap();
    let foreign = idx.join("foreign.db");
    {
        let conn = rusqlite::Connection::open(&foreign).unwrap();
        conn.execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('hello');")
            .unwrap();
    }
    let other_app = idx.join("other-app.db");
    {
        let conn = rusqlite::Connection::open(&other_app).unwrap();
        conn.execute_batch("PRAGMA application_id = 1234; PRAGMA user_version = 1;")
            .unwrap();
    }
    let newer = idx.join("newer.db");
    {
        let out = Command::new(mmv)
            .args([
                "index".to_string(),
                "--bundle".into(),
                b.clone(),
                s(&newer),
                s(&good_wav),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conn = rusqlite::Connection::open(&newer).unwrap();
        conn.execute_batch("PRAGMA user_version = 99; PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
    }
    let text_db = idx.join("text.db");
    std::fs::write(&text_db, "this is not a database\n".repeat(200)).unwrap();
    let truncated_db = idx.join("truncated.db");
    {
        let bytes = std::fs::read(&newer).unwrap();
        std::fs::write(&truncated_db, &bytes[..bytes.len() / 2 + 100]).unwrap();
    }
    for (db, expect) in [
        (&foreign, "not an mmv index"),
        (&other_app, "another program"),
        (&newer, "newer"),
        (&text_db, "not a database"),
    ] {
        let name = db.file_name().unwrap().to_str().unwrap();
        cs.add(
            &format!("mmv index {name}"),
            Tool::Mmv,
            vec![
                "index".into(),
                "--bundle".into(),
                b.clone(),
                s(db),
                s(&good_wav),
            ],
            &[name, expect],
            &[db.as_path()],
        );
        cs.add(
            &format!("mmv search {name}"),
            Tool::Mmv,
            vec![
                "search".into(),
                "--bundle".into(),
                b.clone(),
                "--text".into(),
                "seven".into(),
                s(db),
            ],
            &[name, expect],
            &[db.as_path()],
        );
    }
    cs.add(
        "mmv search truncated.db",
        Tool::Mmv,
        vec![
            "search".into(),
            "--bundle".into(),
            b.clone(),
            "--text".into(),
            "seven".into(),
            s(&truncated_db),
        ],
        &["truncated.db"],
        &[truncated_db.as_path()],
    );

    // The daemon on file sources and configs.
    let host = dir.join("host");
    std::fs::create_dir_all(&host).unwrap();
    let config = |name: &str, body: &str| -> PathBuf {
        let path = host.join(name);
        std::fs::write(&path, body).unwrap();
        path
    };
    let base = |camera: &str, mic: &str| {
        format!(
            "[bundle]\ndir = {b:?}\nprecision = \"fp32\"\n\n{camera}\n{mic}\n\
             [outputs]\ntags = {tags:?}\nframebuffer = \"off\"\n",
            tags = s(&host.join("tags.jsonl"))
        )
    };
    let host_case = |cs: &mut Cases, name: &str, body: String, expect: &[&str]| {
        let path = config(name, &body);
        let mut want = vec![];
        want.extend_from_slice(expect);
        cs.add(
            &format!("mmv-host {name}"),
            Tool::Host,
            vec!["--config".into(), s(&path)],
            &want,
            &[],
        );
    };
    let cam = |file: &Path, kind: &str| {
        // MJPEG carries no frame rate: the config gives it.
        let fps = if kind == "mjpeg" { "fps = 10\n" } else { "" };
        format!(
            "[camera]\nsource = {kind:?}\npath = {:?}\nat_end = \"stop\"\n{fps}",
            s(file)
        )
    };
    let mic = |file: &Path| {
        format!(
            "[microphone]\nsource = \"wav\"\npath = {:?}\nat_end = \"stop\"\n",
            s(file)
        )
    };
    host_case(
        &mut cs,
        "empty-y4m.toml",
        base(&cam(&m("empty.y4m"), "y4m"), ""),
        &["empty.y4m", "empty file"],
    );
    host_case(
        &mut cs,
        "huge-y4m.toml",
        base(&cam(&m("huge-frame.y4m"), "y4m"), ""),
        &["huge-frame.y4m", "width and height"],
    );
    host_case(
        &mut cs,
        "garbage-mjpeg.toml",
        base(&cam(&m("garbage.mjpeg"), "mjpeg"), ""),
        &["garbage.mjpeg", "no JPEG start marker"],
    );
    host_case(
        &mut cs,
        "nan-wav.toml",
        base("", &mic(&m("nan.wav"))),
        &["nan.wav", "non-finite"],
    );
    host_case(
        &mut cs,
        "claims-4gb-wav.toml",
        base("", &mic(&m("claims-4gb.wav"))),
        &["claims-4gb.wav", "declares"],
    );
    host_case(
        &mut cs,
        "missing-wav.toml",
        base("", &mic(&m("missing.wav"))),
        &["missing.wav"],
    );
    host_case(
        &mut cs,
        "broken.toml",
        "[bundle\ndir = ".into(),
        &["broken.toml"],
    );
    host_case(
        &mut cs,
        "empty.toml",
        String::new(),
        &["empty.toml", "bundle"],
    );
    host_case(
        &mut cs,
        "unknown-key.toml",
        base("", &mic(&good_wav)) + "\n[mystery]\nx = 1\n",
        &["unknown-key.toml", "mystery"],
    );
    host_case(
        &mut cs,
        "bad-bundle.toml",
        base("", &mic(&good_wav)).replace(&b, &s(&bundles.join("huge-shape"))),
        &["huge-shape", "larger than"],
    );
    host_case(
        &mut cs,
        "foreign-index.toml",
        base("", &mic(&good_wav)) + &format!("\n[index]\npath = {:?}\n", s(&foreign)),
        &["foreign.db", "not an mmv index"],
    );
    if let Some(last) = cs.0.last_mut() {
        last.unchanged.push(foreign.clone());
    }
    cs.0
}
