//! Roles: who may do what in the fleet database.
//!
//! - `mmv_fleet_device` (group, no login): members insert and update rows of their own device
//!   only (row-level security, see [`crate::schema`]); they cannot delete;
//! - `mmv_fleet_reader` (group, no login): members read every row (searches);
//! - one login role per device (`mmv_dev_<name>`), member of the device group, registered in
//!   `fleet_devices`; read-only login roles for the machines that search.
//!
//! The owner (whoever ran `mmv fleet init`) is needed for migrations and for adding roles
//! only; nothing at run time needs a superuser or the owner. Passwords travel in the
//! `CREATE ROLE` statement (quoted by the server's `format('%L')`), never in a message.

use postgres::Client;
use rand::Rng;

use crate::FleetError;

pub const DEVICE_GROUP: &str = "mmv_fleet_device";
pub const READER_GROUP: &str = "mmv_fleet_reader";

/// The login role of device `device`: `mmv_dev_` and the name with anything but ASCII letters,
/// digits and `_` replaced by `_`, lower-cased, at most 63 bytes.
pub fn device_role(device: &str) -> String {
    let clean: String = device
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut role = format!("mmv_dev_{clean}");
    role.truncate(63);
    role
}

/// A random password of 32 letters and digits.
pub fn random_password() -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// The default device name: this machine's host name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Checks that a device name is usable: 1-200 printable characters.
pub fn check_device_name(device: &str) -> Result<(), FleetError> {
    if device.is_empty() || device.len() > 200 || device.chars().any(char::is_control) {
        return Err(FleetError::Invalid(format!(
            "device name {device:?}: give 1-200 printable characters"
        )));
    }
    Ok(())
}

/// Creates (or gives a new password to) the login role `role`, member of `group`.
fn ensure_login_role(
    client: &mut Client,
    role: &str,
    password: &str,
    group: &str,
) -> Result<(), FleetError> {
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)",
            &[&role],
        )
        .and_then(|r| r.try_get(0))
        .map_err(FleetError::sql(format!("looking up role {role}")))?;
    // The server quotes the name and the password (format's %I and %L).
    let template = if exists {
        "ALTER ROLE %I LOGIN PASSWORD %L"
    } else {
        "CREATE ROLE %I LOGIN PASSWORD %L"
    };
    let sql: String = client
        .query_one(
            "SELECT format($1, $2::text, $3::text)",
            &[&template, &role, &password],
        )
        .and_then(|r| r.try_get(0))
        .map_err(FleetError::sql("quoting the role statement"))?;
    client
        .batch_execute(&sql)
        .map_err(FleetError::sql(format!("creating role {role}")))?;
    let grant: String = client
        .query_one(
            "SELECT format('GRANT %I TO %I', $1::text, $2::text)",
            &[&group, &role],
        )
        .and_then(|r| r.try_get(0))
        .map_err(FleetError::sql("quoting the grant"))?;
    client
        .batch_execute(&grant)
        .map_err(FleetError::sql(format!("granting {group} to {role}")))
}

/// Registers device `device` with its own login role (created, or its password changed).
/// Returns the role's name.
pub fn add_device(client: &mut Client, device: &str, password: &str) -> Result<String, FleetError> {
    check_device_name(device)?;
    let role = device_role(device);
    // A role already registered for another device would let one board write as two.
    let taken: Option<String> = client
        .query_opt(
            "SELECT device FROM fleet_devices WHERE role = $1 AND device <> $2",
            &[&role, &device],
        )
        .map_err(FleetError::sql("reading fleet_devices"))?
        .map(|r| r.get(0));
    if let Some(other) = taken {
        return Err(FleetError::Invalid(format!(
            "device {device:?} would share role {role} with device {other:?}; pick another name"
        )));
    }
    ensure_login_role(client, &role, password, DEVICE_GROUP)?;
    client
        .execute(
            "INSERT INTO fleet_devices (device, role) VALUES ($1, $2) \
             ON CONFLICT (device) DO UPDATE SET role = EXCLUDED.role",
            &[&device, &role],
        )
        .map_err(FleetError::sql("registering the device"))?;
    Ok(role)
}

/// Creates (or gives a new password to) a read-only login role for searching.
pub fn add_reader(client: &mut Client, role: &str, password: &str) -> Result<(), FleetError> {
    if role.is_empty() || role.len() > 63 || role.chars().any(char::is_control) {
        return Err(FleetError::Invalid(format!(
            "role name {role:?}: 1-63 characters"
        )));
    }
    ensure_login_role(client, role, password, READER_GROUP)
}

/// The devices registered, with their roles.
pub fn devices(client: &mut Client) -> Result<Vec<(String, String)>, FleetError> {
    let rows = client
        .query(
            "SELECT device, role::text FROM fleet_devices ORDER BY device",
            &[],
        )
        .map_err(FleetError::sql("reading fleet_devices"))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_plain_identifiers() {
        assert_eq!(device_role("cam-01.site"), "mmv_dev_cam_01_site");
        assert_eq!(device_role("Kitchen Cam"), "mmv_dev_kitchen_cam");
        assert_eq!(device_role(&"x".repeat(100)).len(), 63);
        let p = random_password();
        assert_eq!(p.len(), 32);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(p, random_password());
        assert!(check_device_name("").is_err());
        assert!(check_device_name("a\nb").is_err());
        assert!(check_device_name("cam-01").is_ok());
    }
}
