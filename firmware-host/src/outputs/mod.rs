//! Where results go: tag lines ([`tags_jsonl`]), event records ([`events_jsonl`]) and the
//! search index ([`index_sink`]: the sink trait; [`sqlite_index`]: the runtime's SQLite index).

pub mod events_jsonl;
pub mod index_sink;
pub mod sqlite_index;
pub mod tags_jsonl;
