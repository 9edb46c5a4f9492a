//! Every item exactly once, whatever the total, page size, concurrency and faults.

use std::collections::HashSet;

use futures::StreamExt;
use jumpwatch_api::Error;
use jumpwatch_model::ResourceKind;
use proptest::prelude::*;

use crate::support::{FakeList, Fault, client, paused_runtime};

/// A burst of faults at the start of a listing: fewer than the client's attempts, so each
/// request eventually succeeds, with at most two short pages.
fn faults() -> impl Strategy<Value = Vec<Fault>> {
    prop::collection::vec(fault(), 0..7).prop_filter("at most two short pages", |f| {
        f.iter().filter(|x| **x == Fault::ShortPage).count() <= 2
    })
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        6 => Just(Fault::None),
        1 => Just(Fault::Unavailable),
        1 => Just(Fault::Throttled),
        1 => Just(Fault::Reset),
        1 => Just(Fault::Truncated),
        1 => Just(Fault::ShortPage),
    ]
}

fn list_all(
    fake: FakeList,
    kind: ResourceKind,
    page_size: u32,
    concurrency: usize,
) -> (Result<Vec<String>, Error>, usize) {
    let (stub, requests) = fake.transport();
    let client = client(stub, concurrency);
    let result = paused_runtime().block_on(async {
        let listing = client.list(kind).page_size(page_size).collect().await?;
        Ok(listing.resources.into_iter().map(|r| r.id.to_string()).collect::<Vec<_>>())
    });
    (result, requests.load(std::sync::atomic::Ordering::SeqCst))
}

fn assert_exactly_once(ids: &[String], total: usize) -> Result<(), TestCaseError> {
    let distinct: HashSet<&String> = ids.iter().collect();
    prop_assert_eq!(distinct.len(), ids.len(), "an item came twice");
    let expected: HashSet<String> = (0..total).map(|i| format!("{i:024x}")).collect();
    prop_assert_eq!(distinct.len(), expected.len());
    for id in ids {
        prop_assert!(expected.contains(id));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn v1_every_item_exactly_once(total in 0usize..650, page in 1u32..=100, concurrency in 1usize..12, faults in faults()) {
        let fake = FakeList { total, v1: true, send_total: true, faults, repeat_faults: false, max_limit: 100 };
        let (result, _) = list_all(fake, ResourceKind::User, page, concurrency);
        assert_exactly_once(&result.unwrap(), total)?;
    }

    #[test]
    fn v2_with_a_total_every_item_exactly_once(total in 0usize..650, page in 1u32..=100, concurrency in 1usize..12, faults in faults()) {
        let fake = FakeList { total, v1: false, send_total: true, faults, repeat_faults: false, max_limit: 100 };
        let (result, _) = list_all(fake, ResourceKind::UserGroup, page, concurrency);
        assert_exactly_once(&result.unwrap(), total)?;
    }

    #[test]
    fn v2_without_a_total_reads_until_an_empty_page(total in 0usize..650, page in 1u32..=100, faults in faults()) {
        let fake = FakeList { total, v1: false, send_total: false, faults, repeat_faults: false, max_limit: 100 };
        let (result, _) = list_all(fake, ResourceKind::UserGroup, page, 4);
        assert_exactly_once(&result.unwrap(), total)?;
    }
}

#[test]
fn pages_are_as_large_as_the_endpoint_allows() {
    let fake = FakeList {
        total: 1000,
        v1: true,
        send_total: true,
        faults: vec![],
        repeat_faults: false,
        max_limit: 100,
    };
    let (result, requests) = list_all(fake, ResourceKind::User, 5000, 8);
    assert_eq!(result.unwrap().len(), 1000);
    assert_eq!(requests, 10, "one request a page of 100");
    // System Insights tables take pages of 10 000.
    let (stub, requests) = FakeList {
        total: 25_000,
        v1: false,
        send_total: true,
        faults: vec![],
        repeat_faults: false,
        max_limit: 10_000,
    }
    .transport();
    let client = client(stub, 4);
    let count = paused_runtime().block_on(async {
        client.list(ResourceKind::SiApps).collect().await.unwrap().unreadable.len()
    });
    assert_eq!(
        count, 25_000,
        "the fake's v2 items have no system_id: every row is unreadable, but counted"
    );
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[test]
fn a_count_that_never_adds_up_is_an_incomplete_error_after_two_passes() {
    // The server announces 150 items but serves pages that always lack one.
    let fake = FakeList {
        total: 150,
        v1: true,
        send_total: true,
        faults: vec![Fault::ShortPage],
        repeat_faults: true,
        max_limit: 100,
    };
    let (stub, _) = fake.transport();
    let client = client(stub, 2);
    let outcome = paused_runtime().block_on(async {
        let mut stream = client.list(ResourceKind::User).stream();
        let mut yielded = 0;
        let mut last = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(_) => yielded += 1,
                Err(error) => last = Some(error),
            }
        }
        (yielded, last)
    });
    match outcome {
        (yielded, Some(Error::Incomplete(incomplete))) => {
            assert_eq!(incomplete.expected, 150);
            assert!(incomplete.received < 150);
            assert_eq!(incomplete.passes, 2);
            assert!(yielded < 150);
        }
        other => panic!("{other:?}"),
    }
}
