"""The workspace admin's web pages: Members (tabs, invitations, provisioning problems) and
Groups, server-rendered with the dashboard's stack; and the invitee's accept page."""
