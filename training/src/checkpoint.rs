//! Checkpoints of a training run: the model's weights in safetensors (what evaluation and
//! export read), the Adam state in burn's burnpack record (what `--resume` needs), and the step.
//!
//! burn keys optimiser state by `ParamId`, which is random per process and which safetensors
//! does not store. So every model gets *stable* ids, a hash of each parameter's path, before
//! training starts and again after loading: a resumed run finds its Adam moments under the same
//! ids, with no id table to keep in step with the weights.
//!
//! The frozen word-vector table is not a parameter and is not saved: it is rebuilt from the
//! GloVe file named in the run's metadata.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use crate::model::Mmv;
use crate::trainer::Trainer;

/// The file names inside a checkpoint folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The training weights a bundle keeps beside its ONNX files (`mmv-train export` copies the
/// run's): the ONNX graphs have BatchNorm folded in, so training cannot continue from them, and
/// run folders do not travel with the repository. `train --init-from BUNDLE_DIR` reads it.
pub const BUNDLE_WEIGHTS_FILE: &str = "training-weights.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.bpk";
pub const STATE_FILE: &str = "state.json";

/// The path of the frozen word table, left out of checkpoints.
const WORD_TABLE: &str = "text.words";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot write checkpoint {path}: {problem}")]
    Save { path: PathBuf, problem: String },
    #[error("cannot load checkpoint {path}: {problem}")]
    Load { path: PathBuf, problem: String },
    #[error("checkpoint {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpoint {path}: bad state file: {source}")]
    State {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Where a checkpoint stands in its run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointState {
    /// Steps completed: training resumes at this step.
    pub step: usize,
    pub seed: u64,
    pub config_name: String,
}

/// Replaces every parameter's id with a hash of its path in the module tree.
pub fn with_stable_param_ids<M: Module>(module: M) -> M {
    module.map(&mut StableIds::default())
}

#[derive(Default)]
struct StableIds {
    path: Vec<String>,
}

impl StableIds {
    fn id(&self) -> ParamId {
        // FNV-1a over the dotted path: stable across runs, machines and compilers.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.path.join(".").bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        ParamId::from(h)
    }
}

impl ModuleMapper for StableIds {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let id = self.id();
        let value = param.val();
        param.transform_for_load(value, id)
    }
}

fn not_word_table(path: &str, _container: &str) -> bool {
    path != WORD_TABLE
}

/// Writes the model's weights (batch-norm statistics included, word table excluded).
pub fn save_weights(model: &Mmv, path: &Path) -> Result<(), CheckpointError> {
    let mut store = SafetensorsStore::from_file(path)
        .with_predicate(not_word_table)
        .overwrite(true)
        .metadata("format", "mmv-edge");
    model
        .save_into(&mut store)
        .map_err(|e| CheckpointError::Save {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })
}

/// Loads weights saved by [`save_weights`] into `model` (built from the same config); every
/// tensor but the word table must be present and of the right shape.
pub fn load_weights(mut model: Mmv, path: &Path) -> Result<Mmv, CheckpointError> {
    // A released bundle's folder names the weights it was exported from.
    let bundled = path.join(BUNDLE_WEIGHTS_FILE);
    let path = if path.is_dir() {
        bundled.as_path()
    } else {
        path
    };
    let err = |problem: String| CheckpointError::Load {
        path: path.to_path_buf(),
        problem,
    };
    if !path.is_file() {
        return Err(err("no such file".into()));
    }
    let mut store = SafetensorsStore::from_file(path)
        .with_predicate(not_word_table)
        .allow_partial(true);
    let result = model
        .load_from(&mut store)
        .map_err(|e| err(e.to_string()))?;
    let missing: Vec<&str> = result
        .missing
        .iter()
        .map(|(p, _)| p.as_str())
        .filter(|p| *p != WORD_TABLE)
        .collect();
    if !missing.is_empty() || !result.errors.is_empty() {
        return Err(err(format!(
            "it does not fit this model: missing {missing:?}, errors {:?}",
            result.errors
        )));
    }
    Ok(with_stable_param_ids(model))
}

/// Saves a trainer's weights, optimiser state and step into the folder `dir`.
pub fn save(dir: &Path, trainer: &Trainer, state: &CheckpointState) -> Result<(), CheckpointError> {
    std::fs::create_dir_all(dir).map_err(|source| CheckpointError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    save_weights(&trainer.model, &dir.join(WEIGHTS_FILE))?;
    let optim = dir.join(OPTIMIZER_FILE);
    trainer
        .save_optimizer(&optim)
        .map_err(|problem| CheckpointError::Save {
            path: optim.clone(),
            problem,
        })?;
    let state_path = dir.join(STATE_FILE);
    let json = serde_json::to_string_pretty(state).expect("the state serialises");
    std::fs::write(&state_path, json).map_err(|source| CheckpointError::Io {
        path: state_path,
        source,
    })
}

/// Reads a checkpoint's state file.
pub fn read_state(dir: &Path) -> Result<CheckpointState, CheckpointError> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| CheckpointError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| CheckpointError::State { path, source })
}

/// Restores weights, optimiser state and step into `trainer` from the folder `dir`.
pub fn restore(dir: &Path, trainer: &mut Trainer) -> Result<CheckpointState, CheckpointError> {
    let state = read_state(dir)?;
    let model = trainer.model.clone();
    trainer.model = load_weights(model, &dir.join(WEIGHTS_FILE))?;
    let optim = dir.join(OPTIMIZER_FILE);
    trainer
        .load_optimizer(&optim)
        .map_err(|problem| CheckpointError::Load {
            path: optim.clone(),
            problem,
        })?;
    trainer.step = state.step;
    Ok(state)
}
