//! Workflow definitions: a name, a version and an ordered list of typed steps, each with its retry
//! policy and start-to-close timeout. The builder checks at compile time that each step takes the
//! type the step before it returns; the engine keeps the definitions type-erased (JSON in, JSON
//! out), since that is how inputs and checkpoints are stored.

use std::{fmt, future::Future, marker::PhantomData, pin::Pin, sync::Arc, time::Duration};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    artifact::{self, Journaled},
    children::Rules,
    context::StepContext,
    hook::{Hook, HookError, Transition},
    limiter::Bucket,
    retry::RetryPolicy,
    step_error::StepError,
};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

type StepFn =
    dyn Fn(StepContext, Value) -> BoxFuture<'static, Result<Journaled, StepError>> + Send + Sync;

/// A step of a workflow: a function from `I` (the previous step's output, or the run input) to
/// `O`, with its retry policy and timeout.
pub struct Step<I, O> {
    def: StepDef,
    _types: PhantomData<fn(I) -> O>,
}

/// A step with its types erased.
#[derive(Clone)]
pub(crate) struct StepDef {
    pub name: &'static str,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub limit: Option<Limit>,
    pub run: Arc<StepFn>,
}

/// A limit shared by every step that names its key, in every process on the database: how many
/// of their attempts may be leased at once, and how many may start per second (a token bucket).
/// For example a third-party API's: `Limit::new("provider:replicate").concurrency(4)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    pub key: String,
    pub concurrency: Option<u32>,
    pub rate: Option<Bucket>,
}

impl Limit {
    /// A limit on `key`, with no bound yet.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            concurrency: None,
            rate: None,
        }
    }

    /// At most `attempts` leased at once (at least one).
    pub fn concurrency(mut self, attempts: u32) -> Self {
        self.concurrency = Some(attempts.max(1));
        self
    }

    /// At most `bucket.per_second` attempts started per second, `bucket.capacity` at once.
    pub fn rate(mut self, bucket: Bucket) -> Self {
        self.rate = Some(bucket);
        self
    }
}

impl<I, O> Step<I, O>
where
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
{
    /// A step named `name` (a durable contract: never rename a shipped step) that runs `f`, with the
    /// default retry policy and a 60 s timeout.
    pub fn new<F, Fut>(name: &'static str, f: F) -> Self
    where
        F: Fn(StepContext, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, StepError>> + Send + 'static,
    {
        let run = move |ctx: StepContext, input: Value| -> BoxFuture<'static, _> {
            match serde_json::from_value::<I>(input) {
                Ok(input) => {
                    let output = f(ctx, input);
                    Box::pin(async move {
                        let output = output.await?;
                        artifact::journal(&output).map_err(|e| {
                            StepError::permanent(
                                "invalid_output",
                                format!("output is not JSON: {e}"),
                            )
                        })
                    })
                }
                Err(e) => Box::pin(async move {
                    Err(StepError::permanent(
                        "invalid_input",
                        format!("the step's input does not parse: {e}"),
                    ))
                }),
            }
        };
        Self {
            def: StepDef {
                name,
                timeout: Duration::from_secs(60),
                retry: RetryPolicy::default(),
                limit: None,
                run: Arc::new(run),
            },
            _types: PhantomData,
        }
    }

    /// The start-to-close timeout of each attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.def.timeout = timeout;
        self
    }

    /// How failed attempts are retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.def.retry = policy;
        self
    }

    /// Limits this step's attempts by `limit`'s key, with the other steps that name it.
    ///
    /// # Panics
    /// If the limit's rate bucket holds less than one token or does not refill.
    pub fn limit(mut self, limit: Limit) -> Self {
        if let Some(bucket) = limit.rate {
            assert!(
                bucket.capacity >= 1.0 && bucket.per_second > 0.0,
                "limit {}: its bucket must hold a token and refill",
                limit.key
            );
        }
        self.def.limit = Some(limit);
        self
    }
}

/// The most children one step may start, unless its workflow says otherwise.
const DEFAULT_MAX_CHILDREN: usize = 10_000;

/// A workflow whose runs take an input of type `I`. Cheap to clone.
pub struct Workflow<I> {
    pub(crate) def: Arc<WorkflowDef>,
    _input: PhantomData<fn(I)>,
}

impl<I> Clone for Workflow<I> {
    fn clone(&self) -> Self {
        Self {
            def: self.def.clone(),
            _input: PhantomData,
        }
    }
}

/// A workflow with its types erased.
pub(crate) struct WorkflowDef {
    pub name: &'static str,
    pub version: i32,
    pub steps: Vec<StepDef>,
    pub hook: Option<Arc<dyn Hook>>,
    /// The signals its steps may wait for.
    pub signals: Vec<&'static str>,
    /// The functions its steps may start as children.
    pub children: Vec<StepDef>,
    /// What its steps may start, as their contexts see it.
    pub rules: Arc<Rules>,
}

impl WorkflowDef {
    pub fn step_index(&self, name: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.name == name)
    }

    /// The child function named `name`, if the workflow has it.
    pub fn child(&self, name: &str) -> Option<&StepDef> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The limit key of step `index`, if it has one.
    pub fn limit_key(&self, index: usize) -> Option<&str> {
        let step = self.steps.get(index)?;
        step.limit.as_ref().map(|l| l.key.as_str())
    }
}

impl fmt::Debug for WorkflowDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} v{}", self.name, self.version)
    }
}

impl<I> Workflow<I> {
    /// Starts the definition of workflow `name` at `version`. Runs record both, and a worker only
    /// claims the tasks of workflows it has registered.
    pub fn builder(name: &'static str, version: i32) -> WorkflowBuilder<I, I> {
        WorkflowBuilder {
            name,
            version,
            steps: Vec::new(),
            hook: None,
            signals: Vec::new(),
            children: Vec::new(),
            max_children: DEFAULT_MAX_CHILDREN,
            _types: PhantomData,
        }
    }

    pub fn name(&self) -> &'static str {
        self.def.name
    }

    pub fn version(&self) -> i32 {
        self.def.version
    }

    /// The step names, in order.
    pub fn step_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.def.steps.iter().map(|s| s.name)
    }
}

/// Builds a [`Workflow`] step by step; `Last` is the output type of the last step added.
pub struct WorkflowBuilder<I, Last> {
    name: &'static str,
    version: i32,
    steps: Vec<StepDef>,
    hook: Option<Arc<dyn Hook>>,
    signals: Vec<&'static str>,
    children: Vec<StepDef>,
    max_children: usize,
    _types: PhantomData<fn(I) -> Last>,
}

impl<I, Last> WorkflowBuilder<I, Last> {
    /// Appends a step that takes the output of the step before it.
    pub fn step<O>(mut self, step: Step<Last, O>) -> WorkflowBuilder<I, O> {
        assert!(
            self.steps.iter().all(|s| s.name != step.def.name),
            "workflow {}: step {} is defined twice",
            self.name,
            step.def.name
        );
        self.steps.push(step.def);
        WorkflowBuilder {
            name: self.name,
            version: self.version,
            steps: self.steps,
            hook: self.hook,
            signals: self.signals,
            children: self.children,
            max_children: self.max_children,
            _types: PhantomData,
        }
    }

    /// Declares a signal its steps may wait for (see [`crate::Wait`]); a durable contract, like a
    /// step's name. A signal the workflow does not declare is refused.
    pub fn signal(mut self, name: &'static str) -> Self {
        if !self.signals.contains(&name) {
            self.signals.push(name);
        }
        self
    }

    /// Declares a function its steps may start as children (see
    /// [`StepContext::fan_out`](crate::StepContext::fan_out)): a step whose name is the
    /// function's (a durable contract), with its own retry policy, timeout and limit.
    pub fn child<CI, CO>(mut self, child: Step<CI, CO>) -> Self {
        assert!(
            self.children.iter().all(|c| c.name != child.def.name),
            "workflow {}: child function {} is defined twice",
            self.name,
            child.def.name
        );
        self.children.push(child.def);
        self
    }

    /// The most children one step may start (10 000 unless set).
    pub fn max_children(mut self, max: usize) -> Self {
        self.max_children = max;
        self
    }

    /// Runs `hook` inside every transaction that moves a run of this workflow on.
    pub fn hook(mut self, hook: impl Hook) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Ends the definition.
    ///
    /// # Panics
    /// If no step was added: a workflow without steps is a programming error.
    pub fn build(self) -> Workflow<I> {
        assert!(!self.steps.is_empty(), "workflow {} has no step", self.name);
        let rules = Rules {
            workflow: self.name,
            version: self.version,
            functions: (self.children.iter())
                .map(|c| (c.name, c.limit.as_ref().map(|l| l.key.clone())))
                .collect(),
            max_children: self.max_children,
        };
        Workflow {
            def: Arc::new(WorkflowDef {
                name: self.name,
                version: self.version,
                steps: self.steps,
                hook: self.hook,
                signals: self.signals,
                children: self.children,
                rules: Arc::new(rules),
            }),
            _input: PhantomData,
        }
    }
}

/// Runs the hooks of the workflows in `transitions`, each with its own runs' transitions, in
/// order. Workflows without a hook are skipped.
pub(crate) async fn run_hooks(
    conn: &mut PgConnection,
    transitions: &[(&WorkflowDef, Transition<'_>)],
) -> Result<(), HookError> {
    let mut hooked: Vec<&WorkflowDef> = Vec::new();
    for (def, _) in transitions {
        if def.hook.is_some() && !hooked.iter().any(|seen| std::ptr::eq(*seen, *def)) {
            hooked.push(def);
        }
    }
    for def in hooked {
        let own: Vec<Transition<'_>> = transitions
            .iter()
            .filter(|(other, _)| std::ptr::eq(*other, def))
            .map(|(_, t)| t.clone())
            .collect();
        let hook = def.hook.as_ref().expect("hooked");
        hook.on_transitions(conn, &own).await?;
    }
    Ok(())
}
