//! AV-Digits on the real data folder: determinism, split hygiene and shapes.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use mmv_runtime::text::Vocab;
use mmv_training::config::MmvConfig;
use mmv_training::data::augment::Augment;
use mmv_training::data::narrations::narration_words;
use mmv_training::data::splits::{
    ClipSplit, FsddProtocol, MNIST_TEST, MNIST_TRAIN, Side, fsdd_pretrain,
};
use mmv_training::data::{AvDigits, DataError};

/// `MMV_DATA`; a relative path is taken from the workspace root (where the README's command
/// runs), not from this package's folder, where cargo runs the tests.
fn data_dir() -> PathBuf {
    let dir =
        PathBuf::from(std::env::var("MMV_DATA").expect("MMV_DATA names the shared data folder"));
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir)
}

fn load() -> AvDigits {
    let config = MmvConfig::embedded_default();
    AvDigits::load(&data_dir(), &config, Vocab::from_words(narration_words())).unwrap()
}

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn hash<T: Hash + ?Sized>(x: &T) -> u64 {
    let mut h = DefaultHasher::new();
    x.hash(&mut h);
    h.finish()
}

#[test]
#[ignore = "needs MMV_DATA"]
fn same_seed_same_bytes_across_loads() {
    let a = load();
    let b = load();
    for split in [ClipSplit::Train, ClipSplit::Test] {
        for i in [0u64, 1, 977] {
            let sa = a.sample(split, i, 5, &Augment::TRAIN);
            let sb = b.sample(split, i, 5, &Augment::TRAIN);
            assert_eq!(bytes(&sa.video), bytes(&sb.video));
            assert_eq!(bytes(&sa.audio), bytes(&sb.audio));
            assert_eq!(sa.text, sb.text);
            assert_ne!(
                sa,
                a.sample(split, i, 6, &Augment::TRAIN),
                "another seed, another clip"
            );
        }
    }
    let c = MmvConfig::embedded_default();
    let s = a.sample(ClipSplit::Train, 3, 0, &Augment::TRAIN);
    assert_eq!(
        s.video.len(),
        c.video.channels * c.video.frames * c.video.size * c.video.size
    );
    assert_eq!(s.audio.len(), a.audio_frames() * c.audio.logmel.n_mels);
    assert_eq!(s.text.len(), c.text.narrations_per_clip * c.text.max_words);
    assert!(s.video.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(s.video.iter().any(|&v| v > 0.5), "a digit is visible");
    assert!(s.audio.iter().all(|v| v.is_finite()));
}

#[test]
#[ignore = "needs MMV_DATA"]
fn no_image_or_take_crosses_a_split() {
    let d = load();
    // Plans: training clips use only train images and takes that are train in both protocols;
    // test clips only test images and official test takes.
    for i in 0..20_000u64 {
        let p = d.plan(ClipSplit::Train, i, 11);
        assert!(
            MNIST_TRAIN.contains(&p.image),
            "train clip {i} uses image {}",
            p.image
        );
        let r = &d.recordings[p.take];
        assert!(fsdd_pretrain(r), "train clip {i} uses test take {r:?}");
        assert_eq!(r.digit, p.digit);
        assert_eq!(d.mnist.labels[p.image], p.digit);
        let q = d.plan(ClipSplit::Test, i, 11);
        assert!(MNIST_TEST.contains(&q.image));
        assert_eq!(
            FsddProtocol::Official.side(&d.recordings[q.take]),
            Side::Test
        );
    }
    // Contents, not only indices: no train image has the pixels of a test image, and no take
    // that training may use has the bytes of any test take or of the held-out voice.
    let train_images: HashSet<u64> = MNIST_TRAIN.map(|i| hash(d.mnist.image(i))).collect();
    for i in MNIST_TEST {
        assert!(
            !train_images.contains(&hash(d.mnist.image(i))),
            "test image {i} is also in train"
        );
    }
    let file_hash = |p: &PathBuf| hash(&std::fs::read(p).unwrap());
    let mut pretrain: HashMap<u64, PathBuf> = HashMap::new();
    for r in d.recordings.iter().filter(|r| fsdd_pretrain(r)) {
        pretrain.insert(file_hash(&r.path), r.path.clone());
    }
    let tests = d.recordings.iter().filter(|r| !fsdd_pretrain(r));
    for r in tests.chain(d.heldout.iter()) {
        if let Some(twin) = pretrain.get(&file_hash(&r.path)) {
            panic!(
                "{} has the same bytes as training take {}",
                r.path.display(),
                twin.display()
            );
        }
    }
    // Each protocol splits all 3,000 takes, without overlap, and both sides are non-empty.
    assert_eq!(d.recordings.len(), 3000);
    assert_eq!(d.heldout.len(), 10);
    for protocol in [FsddProtocol::Official, FsddProtocol::SpeakerDisjoint] {
        let test = d
            .recordings
            .iter()
            .filter(|r| protocol.side(r) == Side::Test)
            .count();
        let want = match protocol {
            FsddProtocol::Official => 300,
            FsddProtocol::SpeakerDisjoint => 1000,
        };
        assert_eq!(test, want, "{protocol:?}");
    }
    assert_eq!(
        d.recordings.iter().filter(|r| fsdd_pretrain(r)).count(),
        1800
    );
}

#[test]
#[ignore = "needs MMV_DATA"]
fn bad_data_folders_are_named() {
    let config = MmvConfig::embedded_default();
    let vocab = || Vocab::from_words(narration_words());
    let missing = data_dir().join("no-such-folder");
    let err = AvDigits::load(&missing, &config, vocab()).err().unwrap();
    assert!(matches!(err, DataError::MissingDir { .. }));
    assert!(err.to_string().contains("no-such-folder"), "{err}");

    // A folder with MNIST but no FSDD names the missing recordings folder.
    let dir = std::env::temp_dir().join(format!("mmv-avd-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("mnist")).unwrap();
    for f in [
        "mnist10k-images-idx3-ubyte.gz",
        "mnist10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::copy(data_dir().join("mnist").join(f), dir.join("mnist").join(f)).unwrap();
    }
    let err = AvDigits::load(&dir, &config, vocab())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("fsdd/recordings"), "{err}");
    // A truncated IDX file names itself.
    let images = dir.join("mnist/mnist10k-images-idx3-ubyte.gz");
    let whole = std::fs::read(&images).unwrap();
    std::fs::write(&images, &whole[..whole.len() / 3]).unwrap();
    let err = AvDigits::load(&dir, &config, vocab())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("mnist10k-images-idx3-ubyte.gz"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
#[ignore = "needs MMV_DATA (and espeak-ng)"]
fn open_set_empty_clips_say_non_digit_words_from_the_bank() {
    let silent = load();
    let mut speaking = load();
    let dir = tempfile::tempdir().unwrap();
    let n = speaking.load_non_digit_speech(dir.path()).unwrap();
    assert_eq!(
        n,
        20 * 5 * 2,
        "every training word in every voice at two speeds"
    );
    let a = Augment::ROBUST_OPEN_SET;
    let (mut empty, mut spoken) = (0, 0);
    for i in 0..400u64 {
        let s = speaking.sample(ClipSplit::Train, i, 3, &a);
        let q = silent.sample(ClipSplit::Train, i, 3, &a);
        assert_eq!(
            bytes(&s.video),
            bytes(&q.video),
            "clip {i}: the bank changes only sound"
        );
        if s.text.iter().all(|&t| t == 0) {
            empty += 1;
            if s.audio != q.audio {
                spoken += 1;
                let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
                assert!(
                    mean(&s.audio) > mean(&q.audio),
                    "clip {i}: a word is louder than silence"
                );
            }
        } else {
            assert_eq!(
                bytes(&s.audio),
                bytes(&q.audio),
                "clip {i}: a digit clip is unchanged"
            );
        }
    }
    assert!((60..140).contains(&empty), "{empty} empty clips of 400");
    assert!(
        spoken * 5 > empty && spoken * 2 < empty,
        "{spoken} of {empty} empty clips speak"
    );
    // Files already spoken are reused (a resumed run hears the same words).
    let again = load().load_non_digit_speech(dir.path()).unwrap();
    assert_eq!(again, n);
}
