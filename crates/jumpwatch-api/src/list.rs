//! Listing: every resource of a kind, exactly once, or an error that says why not.
//!
//! Pages are of the largest size the endpoint accepts, sorted for stable paging. When the total
//! is known (v1 `totalCount`, v2 `x-total-count`), the remaining pages are fetched in parallel and
//! yielded in order; a page shorter than it should be is fetched again. When it is not known,
//! pages are read one after another until an empty page (a short page in the middle is not taken
//! as the end). Duplicate ids are dropped. At the end, the number of distinct items must equal the
//! announced total; if it does not, the listing is read once more (yielding only what is new), and
//! if it still does not add up the stream ends with [`Error::Incomplete`].

use std::collections::{HashSet, VecDeque};

use futures::stream::{BoxStream, FuturesOrdered};
use futures::{FutureExt, StreamExt, future::BoxFuture};
use jumpwatch_model::catalog::{Api, IdSpec};
use jumpwatch_model::{DecodeIssue, KindMeta, Resource, ResourceId, ResourceKind, TypedResource};
use serde_json::Value;
use tracing::{Instrument, debug};

use crate::client::{RequestSpec, encode_segment};
use crate::error::{Incomplete, UnreadableRecord};
use crate::page::{Page, decode_page};
use crate::{Client, Error, Filter};

/// A resource read with its kind's typed struct.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Typed<T> {
    /// The resource, with its raw document.
    pub resource: Resource,
    /// The typed view.
    pub value: T,
    /// Values that did not have their catalog type (kept as sent in the view's `extra`).
    pub issues: Vec<DecodeIssue>,
}

/// Everything a listing gave.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Listing {
    /// The kind.
    pub kind: ResourceKind,
    /// The parent, for child kinds and relations.
    pub parent: Option<ResourceId>,
    /// Every resource, in the order listed.
    pub resources: Vec<Resource>,
    /// Records that could not be made into resources (no id, not an object).
    pub unreadable: Vec<UnreadableRecord>,
}

/// A list request, built by [`Client::list`] and consumed by [`stream`](Self::stream),
/// [`typed`](Self::typed) or [`collect`](Self::collect).
#[must_use]
#[derive(Debug, Clone)]
pub struct ListRequest {
    client: Client,
    kind: ResourceKind,
    parent: Option<ResourceId>,
    filters: Vec<Filter>,
    fields: Vec<String>,
    page_size: Option<u32>,
}

impl ListRequest {
    pub(crate) fn new(client: Client, kind: ResourceKind) -> Self {
        Self {
            client,
            kind,
            parent: None,
            filters: Vec::new(),
            fields: Vec::new(),
            page_size: None,
        }
    }

    /// The parent whose children or relations to list (required for child kinds and relations).
    pub fn parent(mut self, parent: impl Into<ResourceId>) -> Self {
        self.parent = Some(parent.into());
        self
    }

    /// Adds a filter (several are combined with AND).
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filters.push(filter);
        self
    }

    /// Asks for these fields only (the id and display-name fields are always included).
    pub fn fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fields.extend(fields.into_iter().map(Into::into));
        self
    }

    /// The page size (default and maximum: the endpoint's maximum).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size);
        self
    }

    /// The resources, as a stream. Items are `Ok(resource)`; an `Err` is either
    /// [`Error::Record`] (one record skipped; the listing goes on) or fatal (the stream ends).
    pub fn stream(self) -> BoxStream<'static, Result<Resource, Error>> {
        let span = tracing::debug_span!("jumpwatch.list", kind = %self.kind, parent = ?self.parent.as_ref().map(ResourceId::as_str));
        match Lister::new(self) {
            Ok(lister) => futures::stream::unfold(lister, move |mut lister| {
                async move {
                    let item = lister.next().await?;
                    Some((item, lister))
                }
                .instrument(span.clone())
            })
            .boxed(),
            Err(error) => futures::stream::once(async move { Err(error) }).boxed(),
        }
    }

    /// The resources read with the kind's typed struct `T`.
    pub fn typed<T: TypedResource + Send + 'static>(
        self,
    ) -> BoxStream<'static, Result<Typed<T>, Error>> {
        if T::KIND != self.kind {
            let error = Error::InvalidRequest(format!(
                "a {} listing cannot be read as {}",
                self.kind,
                T::KIND
            ));
            return futures::stream::once(async move { Err(error) }).boxed();
        }
        self.stream()
            .map(|item| {
                let resource = item?;
                let decoded = resource.typed_with_issues::<T>().map_err(|error| Error::Decode {
                    kind: Some(resource.kind),
                    what: format!("a {}", resource.kind),
                    path: "$".into(),
                    message: error.to_string(),
                })?;
                Ok(Typed { resource, value: decoded.value, issues: decoded.issues })
            })
            .boxed()
    }

    /// Reads the whole listing: every resource, or the first fatal error.
    pub async fn collect(self) -> Result<Listing, Error> {
        let (kind, parent) = (self.kind, self.parent.clone());
        let mut listing = Listing { kind, parent, resources: Vec::new(), unreadable: Vec::new() };
        let mut stream = self.stream();
        while let Some(item) = stream.next().await {
            match item {
                Ok(resource) => listing.resources.push(resource),
                Err(Error::Record(record)) => listing.unreadable.push(*record),
                Err(error) => return Err(error),
            }
        }
        Ok(listing)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Read the first page.
    Start,
    /// The total is known: pages fetched in parallel.
    Parallel,
    /// The total is unknown: pages one after another until an empty one.
    Sequential,
    /// Finished.
    Done,
}

struct Lister {
    client: Client,
    kind: ResourceKind,
    meta: &'static KindMeta,
    parent: Option<ResourceId>,
    spec: RequestSpec,
    limit: u32,
    mode: Mode,
    pass: u32,
    total: Option<u64>,
    /// A page announced another total: items moved while we paged.
    moved: bool,
    next_skip: u64,
    next_page: u64,
    pages: u64,
    pending: FuturesOrdered<BoxFuture<'static, Result<Page, Error>>>,
    /// Ids yielded, over every pass.
    yielded: HashSet<ResourceId>,
    /// Distinct ids seen in this pass, and records without one.
    pass_ids: HashSet<ResourceId>,
    pass_unidentified: u64,
    index: u64,
    buffer: VecDeque<Result<Resource, Error>>,
}

impl Lister {
    fn new(request: ListRequest) -> Result<Self, Error> {
        let ListRequest { client, kind, parent, filters, fields, page_size } = request;
        let meta = kind.meta();
        let mut path = format!("{}{}", meta.api.base_path(), meta.list_path);
        match (meta.parent, &parent) {
            (Some(spec), Some(parent)) => {
                path =
                    path.replace(&format!("{{{}}}", spec.param), &encode_segment(parent.as_str()));
            }
            (Some(spec), None) => {
                return Err(Error::InvalidRequest(format!(
                    "{kind} is listed per {}: give the parent with `.parent(id)`",
                    spec.kind
                )));
            }
            (None, Some(_)) => {
                return Err(Error::InvalidRequest(format!("{kind} is not listed per parent")));
            }
            (None, None) => {}
        }
        let limit = page_size.unwrap_or(meta.max_limit).clamp(1, meta.max_limit);
        let mut spec = RequestSpec::get(path);
        spec.org_header &= meta.org_header;
        spec.query.extend(meta.query.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        if let Some(sort) = meta.sort {
            spec.query.push(("sort".into(), sort.into()));
        }
        for filter in &filters {
            spec.query.push(("filter".into(), filter.render(meta.api)?));
        }
        if !fields.is_empty() {
            let mut all: Vec<String> = match meta.id {
                IdSpec::Field(f) => vec![f.to_owned()],
                IdSpec::Composite(fs) => fs.iter().map(|f| (*f).to_owned()).collect(),
                _ => Vec::new(),
            };
            all.extend(meta.name_field.map(str::to_owned));
            all.extend(meta.list_filter.map(|(f, _)| f.to_owned()));
            for field in fields {
                if !all.contains(&field) {
                    all.push(field);
                }
            }
            let separator = if meta.api == Api::V1 { " " } else { "," };
            spec.query.push(("fields".into(), all.join(separator)));
        }
        Ok(Self {
            client,
            kind,
            meta,
            parent,
            spec,
            limit,
            mode: Mode::Start,
            pass: 1,
            total: None,
            moved: false,
            next_skip: 0,
            next_page: 0,
            pages: 0,
            pending: FuturesOrdered::new(),
            yielded: HashSet::new(),
            pass_ids: HashSet::new(),
            pass_unidentified: 0,
            index: 0,
            buffer: VecDeque::new(),
        })
    }

    /// Fetches the page at `skip`. With `expected = (total, due)`, a page holding fewer than `due`
    /// items while the total is unchanged is a short page: it is fetched again (twice at most),
    /// and then taken as it is, for the count check at the end of the pass to judge.
    fn fetch(
        &self,
        skip: u64,
        expected: Option<(u64, u64)>,
    ) -> BoxFuture<'static, Result<Page, Error>> {
        const SHORT_PAGE_TRIES: u32 = 3;
        let client = self.client.clone();
        let kind = self.kind;
        let mut spec = self.spec.clone();
        spec.query.push(("limit".into(), self.limit.to_string()));
        spec.query.push(("skip".into(), skip.to_string()));
        async move {
            let mut tries = 0;
            loop {
                tries += 1;
                let page = client
                    .execute(&spec, |response| {
                        decode_page(kind, response.headers(), response.body())
                    })
                    .await?;
                let short = expected.is_some_and(|(total, due)| {
                    page.total == Some(total) && (page.items.len() as u64) < due
                });
                if !short || tries >= SHORT_PAGE_TRIES {
                    return Ok(page);
                }
                debug!(skip, items = page.items.len(), "a short page; fetching it again");
            }
        }
        .boxed()
    }

    fn schedule(&mut self) {
        let total = self.total.unwrap_or(0);
        while self.next_page < self.pages && self.pending.len() < self.client.max_concurrency() {
            let skip = self.next_page * u64::from(self.limit);
            let want = (total - skip).min(u64::from(self.limit));
            let future = self.fetch(skip, Some((total, want)));
            self.pending.push_back(future);
            self.next_page += 1;
        }
    }

    fn resource(&self, doc: Value) -> Result<Resource, jumpwatch_model::ResourceError> {
        match &self.parent {
            Some(parent) => Resource::from_child_doc(self.kind, parent.clone(), doc),
            None => Resource::from_doc(self.kind, doc),
        }
    }

    /// Takes in a page's items; returns the resources to hydrate.
    fn take(&mut self, page: Page) -> Vec<Resource> {
        let mut to_hydrate = Vec::new();
        self.client
            .counters()
            .items
            .fetch_add(page.items.len() as u64, std::sync::atomic::Ordering::Relaxed);
        for doc in page.items {
            self.index += 1;
            let raw = doc.clone();
            match self.resource(doc) {
                Ok(resource) => {
                    if !self.pass_ids.insert(resource.id.clone()) {
                        continue;
                    }
                    if let Some((field, value)) = self.meta.list_filter {
                        let matches = resource.get(field).and_then(Value::as_str) == Some(value);
                        if !matches {
                            continue;
                        }
                    }
                    if !self.yielded.insert(resource.id.clone()) {
                        continue;
                    }
                    if self.meta.hydrate {
                        to_hydrate.push(resource);
                    } else {
                        self.buffer.push_back(Ok(resource));
                    }
                }
                Err(error) => {
                    self.pass_unidentified += 1;
                    if self.pass == 1 {
                        let record =
                            UnreadableRecord { kind: self.kind, index: self.index - 1, raw, error };
                        self.buffer.push_back(Err(Error::Record(Box::new(record))));
                    }
                }
            }
        }
        to_hydrate
    }

    /// Completes partial list items with their get.
    async fn hydrate(&mut self, partial: Vec<Resource>) {
        let client = self.client.clone();
        let kind = self.kind;
        let mut gets = futures::stream::iter(partial)
            .map(|resource| {
                let client = client.clone();
                async move { client.get(kind, &resource.id).await }
            })
            .buffered(self.client.max_concurrency());
        while let Some(result) = gets.next().await {
            match result {
                Ok(resource) => self.buffer.push_back(Ok(resource)),
                // Deleted between the list and the get: it is gone, as the next listing will say.
                Err(error) if error.status() == Some(404) => {
                    debug!(%error, "vanished before its get");
                }
                Err(error) => {
                    self.buffer.push_back(Err(error));
                    self.mode = Mode::Done;
                    return;
                }
            }
        }
    }

    fn fail(&mut self, error: Error) {
        self.buffer.push_back(Err(error));
        self.mode = Mode::Done;
        self.pending = FuturesOrdered::new();
    }

    /// A pass is over: does it add up?
    fn end_pass(&mut self) {
        let Some(total) = self.total else {
            self.mode = Mode::Done;
            return;
        };
        let received = self.pass_ids.len() as u64 + self.pass_unidentified;
        if received == total && !self.moved {
            self.mode = Mode::Done;
        } else if self.pass == 1 {
            debug!(
                total,
                received,
                moved = self.moved,
                "the listing did not add up; reading it again"
            );
            self.pass = 2;
            self.mode = Mode::Start;
            self.total = None;
            self.moved = false;
            self.pass_ids.clear();
            self.pass_unidentified = 0;
            self.index = 0;
        } else {
            self.fail(Error::Incomplete(Box::new(Incomplete {
                kind: self.kind,
                parent: self.parent.clone(),
                expected: total,
                received,
                passes: self.pass,
            })));
        }
    }

    async fn next(&mut self) -> Option<Result<Resource, Error>> {
        loop {
            if let Some(item) = self.buffer.pop_front() {
                return Some(item);
            }
            match self.mode {
                Mode::Done => return None,
                Mode::Start => match self.fetch(0, None).await {
                    Ok(page) => {
                        let count = page.items.len() as u64;
                        self.total = page.total;
                        let partial = self.take(page);
                        self.hydrate(partial).await;
                        if self.mode == Mode::Done {
                            continue;
                        }
                        match self.total {
                            Some(total) => {
                                self.pages = total.div_ceil(u64::from(self.limit));
                                // A short first page is fetched again with the rest.
                                let short = count < total.min(u64::from(self.limit));
                                self.next_page = u64::from(!short);
                                self.mode = Mode::Parallel;
                            }
                            None if count == 0 => self.end_pass(),
                            None => {
                                self.next_skip = count;
                                self.mode = Mode::Sequential;
                            }
                        }
                    }
                    Err(error) => self.fail(error),
                },
                Mode::Parallel => {
                    self.schedule();
                    match self.pending.next().await {
                        Some(Ok(page)) => {
                            if page.total != self.total {
                                self.moved = true;
                            }
                            let partial = self.take(page);
                            self.hydrate(partial).await;
                        }
                        Some(Err(error)) => self.fail(error),
                        None => self.end_pass(),
                    }
                }
                Mode::Sequential => match self.fetch(self.next_skip, None).await {
                    Ok(page) if page.items.is_empty() => self.end_pass(),
                    Ok(page) => {
                        self.next_skip += page.items.len() as u64;
                        let partial = self.take(page);
                        self.hydrate(partial).await;
                    }
                    Err(error) => self.fail(error),
                },
            }
        }
    }
}
