; Inno Setup 6.3+ script of Plan Runner: a per-machine installer of the PyInstaller
; bundle in build\bundle\plan-runner. packaging\windows\build.ps1 builds the bundle
; and runs:  iscc /DAppVersion=<app.__version__> packaging\windows\plan-runner.iss
;
; IT installs it silently (the app is not started afterwards):
;   plan-runner-<version>-windows-x64-setup.exe /VERYSILENT /SUPPRESSMSGBOXES /NORESTART
; and uninstalls it with:
;   "C:\Program Files\Plan Runner\unins000.exe" /VERYSILENT /SUPPRESSMSGBOXES /NORESTART
; The machine policy goes to %ProgramData%\plan-runner\policy.json; neither the
; installer nor the uninstaller touches it (see packaging\README.md).

#ifndef AppVersion
  #error Pass the version from app/__init__.py: iscc /DAppVersion=X.Y.Z plan-runner.iss
#endif

[Setup]
; The AppId identifies the installation across versions: never change it.
AppId={{86345FA7-E75A-4F24-9095-C0D04D53EA43}
AppName=Plan Runner
AppVersion={#AppVersion}
AppVerName=Plan Runner {#AppVersion}
AppPublisher=Plan Runner contributors
AppPublisherURL=https://github.com/planrunner/plan-runner
PrivilegesRequired=admin
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
DefaultDirName={autopf}\Plan Runner
DisableDirPage=auto
DisableProgramGroupPage=yes
UninstallDisplayName=Plan Runner
UninstallDisplayIcon={app}\plan-runner-gui.exe
CloseApplications=yes
RestartApplications=no
SourceDir=..\..
OutputDir=dist
OutputBaseFilename=plan-runner-{#AppVersion}-windows-x64-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Files]
Source: "build\bundle\plan-runner\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Plan Runner"; Filename: "{app}\plan-runner-gui.exe"; AppUserModelID: "io.github.planrunner.PlanRunner"

[Run]
Filename: "{app}\plan-runner-gui.exe"; Description: "{cm:LaunchProgram,Plan Runner}"; Flags: postinstall nowait skipifsilent
