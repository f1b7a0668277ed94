"""Dashboard views of the accounts app, one module per page family: signin (sign-in, sign-out, home),
accounts (the list, connect, remove), account_detail (the account's page and its actions), team (the
team page, invitations)."""
