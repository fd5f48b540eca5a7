# ModelAdmins of accounts are registered on the OTP admin site:
#     from accounts.admin_site import site
# (owned by the account-lifecycle work; see accounts/admin_site.py)
