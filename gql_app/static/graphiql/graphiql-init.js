// Starts GraphiQL against the endpoint that served the page. It lives in its own file
// because the page's Content-Security-Policy allows no inline script.
"use strict";

(function () {
  const url = window.location.origin + window.location.pathname;
  const fetcher = GraphiQL.createFetcher({
    url: url,
    subscriptionUrl: url.replace(/^http/, "ws"),
  });
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
    }),
  );
})();
