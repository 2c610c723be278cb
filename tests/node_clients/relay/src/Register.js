graphql`
  mutation RegisterMutation($input: RegisterInput!) {
    register(input: $input) {
      __typename
      ... on AuthSuccess {
        token
      }
    }
  }
`;
