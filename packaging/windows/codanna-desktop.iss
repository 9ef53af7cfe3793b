; Inno Setup 6 script for Codanna Desktop on Windows. UNTESTED: this project's machines
; run Linux only; the CI recipe (.github/workflows/installers.yml) builds it on a
; windows-latest runner:
;   pyinstaller --noconfirm packaging/codanna-desktop.spec      (dist\codanna-desktop\)
;   iscc /DAppVersion=<version> packaging\windows\codanna-desktop.iss
; Output: dist\codanna-desktop-<version>-windows-x64-setup.exe. Signing (name it here so
; nobody forgets): signtool sign /fd SHA256 /tr <timestamp-url> /td SHA256 on the .exe in
; the bundle before iscc, and on the setup .exe after (SignTool= directive, or a CI step).

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif

[Setup]
AppId={{6E0C9C2B-3D0B-4B8E-9B61-4E3C7C0D5A11}
AppName=Codanna Desktop
AppVersion={#AppVersion}
AppPublisher=Codanna Desktop maintainers
DefaultDirName={autopf}\Codanna Desktop
DefaultGroupName=Codanna Desktop
; Per-user install by default (no admin prompt); the dialog offers all users too.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=codanna-desktop-{#AppVersion}-windows-x64-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
SetupIconFile=codanna-desktop.ico
UninstallDisplayIcon={app}\codanna-desktop.exe
LicenseFile=..\..\build\packaging\doc\copyright

[Files]
Source: "..\..\dist\codanna-desktop\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "..\..\build\packaging\doc\*"; DestDir: "{app}\licences"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Codanna Desktop"; Filename: "{app}\codanna-desktop.exe"; Parameters: "gui"
Name: "{autodesktop}\Codanna Desktop"; Filename: "{app}\codanna-desktop.exe"; Parameters: "gui"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; Flags: unchecked

[Run]
Filename: "{app}\codanna-desktop.exe"; Parameters: "gui"; Description: "{cm:LaunchProgram,Codanna Desktop}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; The Run value start-at-login writes (codanna_desktop/core/autostart.py); the user's
; index and settings in %LOCALAPPDATA% stay, as on Linux.
Type: files; Name: "{app}\*.log"

[Registry]
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueName: "Codanna Desktop"; Flags: uninsdeletevalue dontcreatekey
