//! Where results go: tag lines ([`tags_jsonl`]), event records ([`events_jsonl`]) and the
//! search index ([`index_sink`]: the sink trait; [`sqlite_index`]: the runtime's SQLite index);
//! the same lines over MQTT ([`mqtt`]) and to the web page's live view ([`live`]); the index's
//! rows to the fleet database ([`fleet_push`]).

pub mod events_jsonl;
pub mod fleet_push;
pub mod index_sink;
pub mod live;
pub mod mqtt;
pub mod sqlite_index;
pub mod tags_jsonl;
