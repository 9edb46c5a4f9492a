//! The in-memory outbox keeps the port's rules.

#[test]
fn the_memory_outbox_keeps_the_rules() {
    jumpwatch_notify::conformance::check(&|| Box::new(jumpwatch_notify::MemoryOutbox::new()))
        .unwrap();
}
