//! The committed fixture tenant is what the generator makes, and loads.

use std::path::Path;

use jumpwatch_model::ResourceKind;
use jumpwatch_sim::fixtures;

#[test]
fn committed_fixtures_are_fresh() {
    if let Err(error) = fixtures::check(Path::new(fixtures::SMALL_DIR)) {
        panic!("{error}");
    }
}

#[test]
fn fixtures_load_into_an_inventory() {
    let inventory = fixtures::load_small().unwrap();
    for &kind in ResourceKind::ALL {
        assert!(inventory.count(kind) > 0, "{kind}");
    }
    assert_eq!(inventory.count(ResourceKind::User), 50);
    assert!(!fixtures::events(Path::new(fixtures::SMALL_DIR)).unwrap().is_empty());
}

#[test]
fn a_missing_or_changed_fixture_is_stale() {
    let dir = std::env::temp_dir().join(format!("jumpwatch-sim-fixtures-{}", std::process::id()));
    let written = fixtures::write(&dir).unwrap();
    assert!(written > 40);
    fixtures::check(&dir).unwrap();
    std::fs::write(dir.join("user.json"), "[]\n").unwrap();
    std::fs::remove_file(dir.join("events.json")).unwrap();
    match fixtures::check(&dir) {
        Err(jumpwatch_sim::Error::StaleFixtures(files)) => {
            assert_eq!(files, ["user.json", "events.json"])
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
