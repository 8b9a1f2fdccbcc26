//! The `Provider` trait that providers and decorators implement.

use std::{future::Future, pin::Pin, sync::Arc};

use async_trait::async_trait;

use crate::{
    account::{Credits, ModelInfo},
    chat::ChatRequest,
    error::Error,
    response::ChatResponse,
    stream::ChatStream,
};

/// Something that answers chat requests: an upstream provider (OpenRouter, Portkey) or a
/// decorator around one (retry, rate limit, cache, router).
///
/// The trait is object safe, so a router can hold `Vec<Arc<dyn Provider>>` of mixed
/// providers. It is implemented for `Arc<P>`, `Box<P>` and `&P`.
///
/// Only [`name`](Self::name), [`chat`](Self::chat) and [`chat_stream`](Self::chat_stream) are
/// required; the account calls default to [`Unsupported`](crate::ErrorKind::Unsupported).
/// Decorators must forward every method, including the defaulted ones.
///
/// ```
/// use async_trait::async_trait;
/// use orchestra_core::{
///     ChatRequest, ChatResponse, ChatStream, Choice, Error, FinishReason, Message, Provider,
/// };
///
/// /// Answers every request with the same text.
/// struct Echo;
///
/// #[async_trait]
/// impl Provider for Echo {
///     fn name(&self) -> &str {
///         "echo"
///     }
///
///     async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
///         let text = request.last_user_text().unwrap_or_default().into_owned();
///         let choice = Choice::new(0, Message::assistant(text), Some(FinishReason::Stop));
///         Ok(ChatResponse::new("echo-1", "echo/echo", self.name(), vec![choice]))
///     }
///
///     async fn chat_stream(&self, _request: &ChatRequest) -> Result<ChatStream, Error> {
///         Err(Error::unsupported("echo does not stream"))
///     }
/// }
///
/// # tokio_test_block_on(async {
/// let provider: std::sync::Arc<dyn Provider> = std::sync::Arc::new(Echo);
/// let response = provider.chat(&ChatRequest::new(vec![Message::user("hi")])).await.unwrap();
/// assert_eq!(response.content(), Some("hi"));
/// assert!(provider.models().await.is_err());
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(future: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(future)
/// # }
/// ```
#[async_trait]
pub trait Provider: Send + Sync {
    /// A short, stable name used in attempts, logs and metrics (`openrouter`, `portkey`, …).
    fn name(&self) -> &str;

    /// Sends `request` and waits for the whole response.
    ///
    /// # Errors
    ///
    /// Any [`Error`]; its [`kind`](Error::kind) tells retry and routing what to do.
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, Error>;

    /// [`chat`](Self::chat) for a caller that is done with `request`.
    ///
    /// A layer that changes the request on its way down (a router setting each target's
    /// model) can then change it in place instead of copying it: with a long conversation
    /// that copy is most of what routing costs. The default borrows it and calls `chat`;
    /// decorators forward it when they pass the request down unchanged.
    ///
    /// # Errors
    ///
    /// As [`chat`](Self::chat).
    async fn chat_owned(&self, request: ChatRequest) -> Result<ChatResponse, Error> {
        self.chat(&request).await
    }

    /// Sends `request` and returns the response as a stream of events.
    ///
    /// Errors before the first event are returned here; later failures arrive in the stream.
    ///
    /// # Errors
    ///
    /// Any [`Error`] that happened before the stream started.
    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, Error>;

    /// Lists the models this provider can serve, with prices.
    ///
    /// # Errors
    ///
    /// [`Unsupported`](crate::ErrorKind::Unsupported) by default.
    async fn models(&self) -> Result<Vec<ModelInfo>, Error> {
        Err(Error::unsupported(format!(
            "{} cannot list models",
            self.name()
        )))
    }

    /// Reports the account's credit balance and the key's spending limits.
    ///
    /// # Errors
    ///
    /// [`Unsupported`](crate::ErrorKind::Unsupported) by default.
    async fn credits(&self) -> Result<Credits, Error> {
        Err(Error::unsupported(format!(
            "{} cannot report credits",
            self.name()
        )))
    }
}

macro_rules! forward_provider {
    ($($pointer:ty),+) => {$(
        #[async_trait]
        #[deny(clippy::missing_trait_methods)]
        impl<P: Provider + ?Sized> Provider for $pointer {
            fn name(&self) -> &str {
                (**self).name()
            }

            // `chat` and `chat_stream` hand out the pointee's boxed future as it is, rather
            // than boxing another future around it: one allocation and one indirection
            // fewer per call through an `Arc<dyn Provider>`.
            fn chat<'life0, 'life1, 'async_trait>(
                &'life0 self,
                request: &'life1 ChatRequest,
            ) -> Pin<Box<dyn Future<Output = Result<ChatResponse, Error>> + Send + 'async_trait>>
            where
                'life0: 'async_trait,
                'life1: 'async_trait,
                Self: 'async_trait,
            {
                (**self).chat(request)
            }

            fn chat_owned<'life0, 'async_trait>(
                &'life0 self,
                request: ChatRequest,
            ) -> Pin<Box<dyn Future<Output = Result<ChatResponse, Error>> + Send + 'async_trait>>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                (**self).chat_owned(request)
            }

            fn chat_stream<'life0, 'life1, 'async_trait>(
                &'life0 self,
                request: &'life1 ChatRequest,
            ) -> Pin<Box<dyn Future<Output = Result<ChatStream, Error>> + Send + 'async_trait>>
            where
                'life0: 'async_trait,
                'life1: 'async_trait,
                Self: 'async_trait,
            {
                (**self).chat_stream(request)
            }

            async fn models(&self) -> Result<Vec<ModelInfo>, Error> {
                (**self).models().await
            }

            async fn credits(&self) -> Result<Credits, Error> {
                (**self).credits().await
            }
        }
    )+};
}

forward_provider!(Arc<P>, Box<P>, &P);

/// A factory that wraps a provider in a decorator, like tower's `Layer`.
///
/// Resilience, routing and cache crates each offer layers, so an application (or the
/// `orchestra-llm` umbrella) can stack them in any order.
pub trait Layer<P> {
    /// The decorated provider.
    type Provider: Provider;

    /// Wraps `inner`.
    fn layer(&self, inner: P) -> Self::Provider;
}
