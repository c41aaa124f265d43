"""The console (/console): pages for the people who use the service every day (the centre's
supervisor, department clerks, the centre's IT person), signed in with their own key."""
