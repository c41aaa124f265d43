"""The citizen's side: the tablet page (评价器, /kiosk) and the QR-code rating page (/r/{token}),
with device enrolment, the staff on duty, and rating links."""
