// The newest posts, as a @connection on Query, refetchable with other paging arguments.
graphql`
  query FeedQuery {
    ...Feed_query
  }
`;

graphql`
  fragment Feed_query on Query
  @refetchable(queryName: "FeedRefetchQuery")
  @argumentDefinitions(first: { type: "Int", defaultValue: 2 }, after: { type: "String" }) {
    posts(first: $first, after: $after) @connection(key: "Feed_posts") {
      edges {
        cursor
        node {
          id
          title
        }
      }
    }
  }
`;
