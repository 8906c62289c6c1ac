//! The fixed splits of AV-Digits (data/README.md), so results compare across runs:
//!
//! - MNIST: images 0..8000 train, 8000..10000 test. Linear probes pick their regularisation on
//!   the last 800 train images ([`mnist_probe_val`]), never on test.
//! - FSDD, two test protocols: *official* (takes 0-4 of every speaker are test) and
//!   *speaker-disjoint* (george and lucas are test).
//! - Self-supervised training sees only takes that are train in BOTH protocols (takes 5-49 of
//!   jackson, nicolas, theo and yweweler), so neither protocol's test audio is ever trained on,
//!   not even without labels. The held-out voice is a separate folder and is never trained on.

use std::ops::Range;

use super::fsdd::Recording;

pub const MNIST_TRAIN: Range<usize> = 0..8000;
pub const MNIST_TEST: Range<usize> = 8000..10000;
/// The part of MNIST train on which linear probes choose their regularisation.
pub const MNIST_PROBE_VAL: Range<usize> = 7200..8000;

/// Takes below this are test in the official protocol.
pub const OFFICIAL_TEST_TAKES: u32 = 5;
/// The speakers that are test in the speaker-disjoint protocol.
pub const DISJOINT_TEST_SPEAKERS: [&str; 2] = ["george", "lucas"];

/// The two FSDD test protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsddProtocol {
    /// Takes 0-4 of every speaker are test, 5-49 train.
    Official,
    /// Speakers george and lucas are test, the other four train.
    SpeakerDisjoint,
}

/// Which side of a protocol a recording is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Train,
    Test,
}

impl FsddProtocol {
    pub fn side(self, r: &Recording) -> Side {
        let test = match self {
            FsddProtocol::Official => r.take < OFFICIAL_TEST_TAKES,
            FsddProtocol::SpeakerDisjoint => DISJOINT_TEST_SPEAKERS.contains(&r.speaker.as_str()),
        };
        if test { Side::Test } else { Side::Train }
    }

    pub fn name(self) -> &'static str {
        match self {
            FsddProtocol::Official => "official",
            FsddProtocol::SpeakerDisjoint => "speaker-disjoint",
        }
    }
}

/// Whether self-supervised training may use a recording: train in both protocols.
pub fn fsdd_pretrain(r: &Recording) -> bool {
    FsddProtocol::Official.side(r) == Side::Train
        && FsddProtocol::SpeakerDisjoint.side(r) == Side::Train
}

/// The splits of AV clips: which MNIST images and FSDD takes a clip may combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClipSplit {
    /// Self-supervised training: MNIST train, FSDD takes train in both protocols.
    Train,
    /// Evaluation: MNIST test, FSDD official test takes (takes 0-4 of all speakers).
    Test,
}

impl ClipSplit {
    pub fn mnist(self) -> Range<usize> {
        match self {
            ClipSplit::Train => MNIST_TRAIN,
            ClipSplit::Test => MNIST_TEST,
        }
    }

    pub fn has_take(self, r: &Recording) -> bool {
        match self {
            ClipSplit::Train => fsdd_pretrain(r),
            ClipSplit::Test => FsddProtocol::Official.side(r) == Side::Test,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ClipSplit::Train => "train",
            ClipSplit::Test => "test",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn rec(speaker: &str, take: u32) -> Recording {
        Recording {
            digit: 1,
            speaker: speaker.into(),
            take,
            path: PathBuf::new(),
        }
    }

    #[test]
    fn protocols_follow_the_readme() {
        use FsddProtocol::*;
        assert_eq!(Official.side(&rec("theo", 4)), Side::Test);
        assert_eq!(Official.side(&rec("theo", 5)), Side::Train);
        assert_eq!(SpeakerDisjoint.side(&rec("george", 30)), Side::Test);
        assert_eq!(SpeakerDisjoint.side(&rec("jackson", 0)), Side::Train);
        assert!(fsdd_pretrain(&rec("jackson", 5)));
        assert!(!fsdd_pretrain(&rec("jackson", 4)));
        assert!(!fsdd_pretrain(&rec("lucas", 40)));
        let overlap = MNIST_TRAIN.filter(|i| MNIST_TEST.contains(i)).count();
        assert_eq!(overlap, 0);
        assert!(MNIST_PROBE_VAL.clone().all(|i| MNIST_TRAIN.contains(&i)));
    }
}
