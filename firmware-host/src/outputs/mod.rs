//! Where results go: tag lines ([`tags_jsonl`]) and the search index ([`index_sink`]).

pub mod index_sink;
pub mod tags_jsonl;
